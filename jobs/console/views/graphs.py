"""Dependency graphs (SVG) of a job's continuations and of a batch."""

from django.shortcuts import get_object_or_404

from jobs.console import graph
from jobs.console.access import console_page
from jobs.console.views.base import render_page
from jobs.models import Batch, Job


@console_page()
def job_graph(request, job_id):
    job = get_object_or_404(Job.objects.only(*graph.JOB_FIELDS), pk=job_id)
    return render_page(
        request,
        "jobs/console/graph.html",
        title=f"Dependencies of job {job.task_name}",
        section="jobs",
        context={"graph": graph.job_graph(job), "subject": job, "subject_kind": "job"},
    )


@console_page()
def batch_graph(request, batch_id):
    batch = get_object_or_404(Batch, pk=batch_id)
    return render_page(
        request,
        "jobs/console/graph.html",
        title=f"Dependencies of batch {batch.description or batch.pk}",
        section="batches",
        context={"graph": graph.batch_graph(batch), "subject": batch, "subject_kind": "batch"},
    )
