"""The console's URLs, mounted at /admin/jobs/ (before the admin's own catch-all).

Ids are matched by converters (uuid, slug): a malformed id is a 404 before any view runs.
Every view here declares its access level (jobs.console.access); the access-matrix test reads
this list, so a URL added without a row in the matrix fails the suite.
"""

from django.urls import path

from jobs.console.views import (
    alerts,
    audit,
    batches,
    dashboard,
    events,
    graphs,
    jobs,
    performance,
    queues,
    recurring,
    retries,
    servers,
)

app_name = "jobs_console"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("stats.json", dashboard.stats_json, name="stats"),
    # Queues (their page, and the pause/resume forms there and on the dashboard)
    path("queues/", queues.queue_list, name="queue_list"),
    path("queue/<slug:queue>/pause/", queues.queue_pause, name="queue_pause"),
    path("queue/<slug:queue>/resume/", queues.queue_resume, name="queue_resume"),
    # Jobs
    path("jobs/bulk/", jobs.job_bulk, name="job_bulk"),  # before jobs/<state>/, which would match it
    path("jobs/matching/", jobs.job_matching, name="job_matching"),
    path("jobs/<slug:state>/", jobs.job_list, name="job_list"),
    path("jobs/<slug:state>/live.json", jobs.job_list_live, name="job_list_live"),
    path("job/<uuid:job_id>/", jobs.job_detail, name="job_detail"),
    path("job/<uuid:job_id>/live.json", jobs.job_live, name="job_live"),
    path("job/<uuid:job_id>/graph/", graphs.job_graph, name="job_graph"),
    path("job/<uuid:job_id>/arguments/", jobs.job_arguments, name="job_arguments"),
    path("job/<uuid:job_id>/requeue/", jobs.job_requeue, name="job_requeue"),
    path("job/<uuid:job_id>/delete/", jobs.job_delete, name="job_delete"),
    path("job/<uuid:job_id>/cancel/", jobs.job_cancel, name="job_cancel"),
    # Performance per task, and failed jobs grouped by how they failed
    path("performance/", performance.performance_page, name="performance"),
    path("failures/", performance.failure_group_list, name="failure_groups"),
    path("failures/<slug:group>/retry/", performance.failure_group_retry, name="failure_group_retry"),
    path("failures/<slug:group>/delete/", performance.failure_group_delete, name="failure_group_delete"),
    # Retries
    path("retries/", retries.retries, name="retries"),
    # Recurring jobs
    path("recurring/", recurring.recurring_list, name="recurring_list"),
    path("recurring/<slug:recurring_id>/", recurring.recurring_detail, name="recurring_detail"),
    path("recurring/<slug:recurring_id>/trigger/", recurring.recurring_trigger, name="recurring_trigger"),
    path("recurring/<slug:recurring_id>/enable/", recurring.recurring_enable, name="recurring_enable"),
    path("recurring/<slug:recurring_id>/disable/", recurring.recurring_disable, name="recurring_disable"),
    path("recurring/<slug:recurring_id>/remove/", recurring.recurring_remove, name="recurring_remove"),
    # The audit trail of console actions
    path("audit/", audit.audit_list, name="audit"),
    # Servers
    path("servers/", servers.servers, name="servers"),
    # Batches
    path("batches/", batches.batch_list, name="batch_list"),
    path("batch/<uuid:batch_id>/", batches.batch_detail, name="batch_detail"),
    path("batch/<uuid:batch_id>/graph/", graphs.batch_graph, name="batch_graph"),
    path("batch/<uuid:batch_id>/cancel/", batches.batch_cancel, name="batch_cancel"),
    # Domain events (docs/events.md)
    path("events/", events.events, name="events"),
    path("events/dead/<slug:dead_letter_id>/replay/", events.event_replay, name="event_replay"),
    # SLA alerts
    path("alerts/", alerts.alert_list, name="alert_list"),
    path("alerts/<int:alert_id>/acknowledge/", alerts.alert_acknowledge, name="alert_acknowledge"),
    path("alerts/<int:alert_id>/resolve/", alerts.alert_resolve, name="alert_resolve"),
]
