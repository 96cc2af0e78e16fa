"""Enqueue through django.tasks: durable rows, the caller's transaction, and refusals of bad input."""

import datetime
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.tasks import TaskResultStatus, default_task_backend
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.utils import timezone

import jobs.api
from jobs.creation import ArgumentsTooLarge
from jobs.models import Job, JobState, State
from tests.testapp import tasks

pytestmark = pytest.mark.django_db


def counts():
    return Job.objects.count(), JobState.objects.count()


def test_enqueue_writes_an_enqueued_job_and_its_first_history_row():
    result = tasks.add.enqueue(2, 3)
    job = Job.objects.get(pk=result.id)
    assert (job.state, job.queue, job.args, job.task_path) == (
        State.ENQUEUED,
        "default",
        [2, 3],
        "tests.testapp.tasks.add",
    )
    assert list(job.history.values_list("name", flat=True)) == [State.ENQUEUED]
    assert result.status == TaskResultStatus.READY


def test_backend_advertises_what_it_supports():
    assert default_task_backend.supports_defer
    assert default_task_backend.supports_priority
    assert default_task_backend.supports_get_result


def test_a_rolled_back_transaction_leaves_no_job():
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.enqueue(1, 1)
        raise RuntimeError("domain write failed")
    assert counts() == (0, 0)


def test_run_after_makes_a_scheduled_job():
    when = timezone.now() + datetime.timedelta(hours=1)
    result = tasks.add.using(run_after=when).enqueue(1, 2)
    job = Job.objects.get(pk=result.id)
    assert job.state == State.SCHEDULED and job.run_at == when


def test_priority_and_queue_are_honoured():
    result = tasks.add.using(priority=7, queue_name="critical").enqueue(1, 2)
    job = Job.objects.get(pk=result.id)
    assert (job.priority, job.queue) == (7, "critical")


def test_get_result_maps_states():
    result = tasks.add.enqueue(1, 2)
    assert default_task_backend.get_result(result.id).status == TaskResultStatus.READY
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("00000000-0000-0000-0000-000000000000")
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("not-a-uuid")


def test_bulk_enqueue_inserts_many_jobs_at_once(django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        ids = jobs.api.enqueue_many(tasks.add, [((i, i), {}) for i in range(500)])
    assert len(ids) == 500
    assert Job.objects.filter(state=State.ENQUEUED).count() == 500
    assert JobState.objects.count() == 500


@pytest.mark.parametrize(
    "value, kind",
    [
        (Decimal("10.50"), "decimal.Decimal"),
        (datetime.datetime(2026, 1, 1), "datetime.datetime"),
        (float("nan"), "float"),
        ({1, 2}, "set"),
    ],
)
def test_arguments_that_are_not_json_are_refused_naming_the_argument(value, kind):
    with pytest.raises(TypeError, match=rf"Argument #2 of add\(\) is not JSON: a {kind}"):
        tasks.add.enqueue(1, value)
    assert counts() == (0, 0)


def test_a_model_instance_is_refused_with_advice_to_pass_ids():
    group = Group.objects.create(name="x")
    with pytest.raises(TypeError, match="Pass ids"):
        tasks.add.enqueue(a=group, b=1)
    assert counts() == (0, 0)


def test_oversized_arguments_are_refused(settings):
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "MAX_ARGUMENTS_BYTES": 1024}
    with pytest.raises(ArgumentsTooLarge, match="over the 1024-byte limit: pass ids"):
        tasks.add.enqueue("x" * 2000, "")
    assert counts() == (0, 0)


def test_unknown_queue_is_refused():
    with pytest.raises(InvalidTask, match="nightly"):
        tasks.add.using(queue_name="nightly")
    assert counts() == (0, 0)


def test_naive_run_after_is_refused():
    with pytest.raises(InvalidTask, match="aware"):
        tasks.add.using(run_after=datetime.datetime(2030, 1, 1))


def test_negative_delay_is_refused():
    with pytest.raises(ValueError, match="negative"):
        jobs.api.enqueue_in(tasks.add, datetime.timedelta(seconds=-5), 1, 2)
    assert counts() == (0, 0)


def test_a_plain_function_cannot_be_enqueued_as_a_job():
    with pytest.raises(InvalidTask):
        jobs.api.enqueue_many(print, [((), {})])
    assert counts() == (0, 0)


def test_a_failed_bulk_enqueue_writes_nothing():
    calls = [((1, 1), {}), ((1, Decimal("1")), {})]
    with pytest.raises(TypeError):
        jobs.api.enqueue_many(tasks.add, calls)
    assert counts() == (0, 0)


AWKWARD = ["back\\slash", "tab\there", "new\nline", "cr\rhere", 'quote"s', "\\N", "ünïcødé ₹", "{}", ""]


def _row(job_id):
    # (search_terms follow the arguments: compared on their own below)
    skip = {"id", "args", "kwargs", "search_terms"}
    return {k: v for k, v in Job.objects.filter(pk=job_id).values().get().items() if k not in skip}


def test_a_bulk_enqueue_by_copy_writes_the_rows_a_single_enqueue_writes():
    # 250 calls take the COPY path (insert_calls); their rows must match the ORM's, column for
    # column, and the awkward characters must come back as sent.
    calls = [((AWKWARD[i % len(AWKWARD)], i), {}) for i in range(250)]
    ids = jobs.api.enqueue_many(tasks.add, calls)
    single = tasks.add.enqueue("x", 1)
    copied, reference = _row(ids[0]), _row(single.id)
    for changing in ("state_changed_at", "created_at", "enqueued_at"):
        assert copied.pop(changing) <= reference.pop(changing)
    assert copied == reference
    stored = dict(Job.objects.filter(pk__in=ids).values_list("id", "args"))
    assert [stored[i] for i in ids] == [list(args) for args, _ in calls]
    # The search terms of each copied row are those the ORM path computes for its call
    # (awkward characters included: backslashes, tabs and newlines survive COPY's text format).
    from jobs.search import search_fields

    terms = dict(Job.objects.filter(pk__in=ids).values_list("id", "search_terms"))
    assert [terms[i] for i in ids] == [
        search_fields(tasks.add, args, {})["search_terms"] for args, _ in calls
    ]
    history = JobState.objects.get(job_id=ids[-1])
    assert (history.name, history.reason, history.data) == (State.ENQUEUED, "Enqueued", {})


def test_a_bulk_enqueue_by_copy_keeps_keyword_arguments_and_scheduled_state():
    later = timezone.now() + datetime.timedelta(hours=1)
    ids = jobs.api.enqueue_many(
        tasks.add.using(run_after=later), [((), {"a": i, "b": "\\t"}) for i in range(300)]
    )
    job = Job.objects.get(pk=ids[7])
    assert (job.state, job.kwargs, job.run_at) == (State.SCHEDULED, {"a": 7, "b": "\\t"}, later)
    assert JobState.objects.get(job_id=ids[7]).reason == f"Scheduled for {later.isoformat()}"


def test_a_bulk_enqueue_by_copy_refuses_a_bad_call_and_writes_nothing(settings):
    calls = [((i, i), {}) for i in range(400)]
    calls[321] = ((1, Decimal("2")), {})
    with pytest.raises(TypeError, match=r"Argument #2 of add\(\) is not JSON: a decimal.Decimal"):
        jobs.api.enqueue_many(tasks.add, calls)
    calls[321] = ((1,), {2: "x"})
    with pytest.raises(TypeError, match="Keyword argument names of add"):
        jobs.api.enqueue_many(tasks.add, calls)
    settings.DHANMAN_JOBS = {**settings.DHANMAN_JOBS, "MAX_ARGUMENTS_BYTES": 1024}
    calls[321] = (("x" * 2000, ""), {})
    with pytest.raises(ArgumentsTooLarge):
        jobs.api.enqueue_many(tasks.add, calls)
    assert counts() == (0, 0)


def test_argument_size_is_measured_as_before():
    from jobs.creation import encode_arguments

    args, kwargs = ["ab", 1, None], {"k": [1.5, "ü"]}
    _, _, args_json, kwargs_json = encode_arguments("t", args, kwargs)
    assert len(args_json) + len(kwargs_json) + 4 == len(json.dumps([args, kwargs]).encode())
