"""Retention policies (jobs/retention.py): keep-times per final state from the settings, a task's
own override, the expiry set by the state machine, the chunked expiry that takes history and
output along and never makes a claim wait, and what the console says of it."""

import importlib
import threading
from datetime import timedelta

import environ
import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.tasks import task
from django.tasks.exceptions import InvalidTask
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs import api, conf, maintenance, retention, sql
from jobs.models import Job, JobOutput, JobState, RecurringJob, State
from jobs.retention import Retention, policy_for
from jobs.server.broker import claim_jobs
from tests.console import factories
from tests.jobs.helpers import run_all
from tests.testapp import tasks

KEPT = tasks.kept_an_hour.module_path
PLAIN = tasks.add.module_path
DAY = 24 * 3600


def jobs_settings(**overrides):
    return override_settings(DHANMAN_JOBS={**settings.DHANMAN_JOBS, **overrides})


def without(*names):
    return override_settings(DHANMAN_JOBS={k: v for k, v in settings.DHANMAN_JOBS.items() if k not in names})


# --- The policy ----------------------------------------------------------------------------------


def test_settings_default_to_todays_rule_succeeded_and_deleted_a_day_failed_kept():
    with without("RETENTION_SUCCEEDED", "RETENTION_DELETED", "RETENTION_FAILED", "EXPIRATION_SECONDS"):
        assert retention.configured() == Retention(succeeded=DAY, deleted=DAY, failed=None)
    # Unset, Succeeded and Deleted follow EXPIRATION_SECONDS, as expiry did before policies.
    with jobs_settings(EXPIRATION_SECONDS=600), without("RETENTION_SUCCEEDED", "RETENTION_DELETED"):
        assert retention.configured() == Retention(succeeded=600, deleted=600, failed=None)
    with jobs_settings(RETENTION_SUCCEEDED=60, RETENTION_DELETED=None, RETENTION_FAILED=7 * DAY):
        assert retention.configured() == Retention(succeeded=60, deleted=None, failed=7 * DAY)


def test_the_environment_sets_each_keep_time_and_none_keeps(monkeypatch):
    monkeypatch.setenv("JOBS_RETENTION_SUCCEEDED", "3600")
    monkeypatch.setenv("JOBS_RETENTION_FAILED", "none")
    values = conf.from_environment(environ.Env())
    assert values["RETENTION_SUCCEEDED"] == 3600 and values["RETENTION_FAILED"] is None
    assert "RETENTION_DELETED" not in values  # unset: follows EXPIRATION_SECONDS


@pytest.mark.parametrize("bad", [0, -5, "3600", True])
def test_a_wrong_setting_is_a_clear_error_not_keep_forever(bad):
    with (
        jobs_settings(RETENTION_SUCCEEDED=bad),
        pytest.raises(ImproperlyConfigured, match="RETENTION_SUCCEEDED must be a positive number"),
    ):
        retention.configured()


@pytest.mark.parametrize("bad", [0, -1, "1h", False, [3600]])
def test_a_wrong_keep_time_is_refused_at_declaration(bad):
    with pytest.raises(InvalidTask, match="Retention failed must be a positive number of seconds or None"):
        Retention(failed=bad)


def test_retention_must_be_a_retention():
    with pytest.raises(InvalidTask, match="retention must be a jobs.retention.Retention, not dict"):
        task(retention={"succeeded": 60})(lambda: None)


def test_a_task_policy_overrides_the_settings_field_by_field():
    with jobs_settings(RETENTION_SUCCEEDED=DAY, RETENTION_DELETED=2 * DAY, RETENTION_FAILED=None):
        assert policy_for(KEPT) == Retention(succeeded=3600, deleted=2 * DAY, failed=30 * DAY)
        assert policy_for(PLAIN) == Retention(succeeded=DAY, deleted=2 * DAY, failed=None)
        # A job of a task that no longer exists: the settings.
        assert policy_for("tests.testapp.tasks.gone_away") == policy_for(PLAIN)
    assert retention.describe_policy(Retention(succeeded=3600, deleted=DAY, failed=None)) == (
        "succeeded 1\xa0hour, deleted 1\xa0day, failed kept"
    )


# --- The expiry the state machine sets ----------------------------------------------------------


@pytest.mark.django_db
def test_each_final_state_gets_its_tasks_expiry():
    with jobs_settings(RETENTION_SUCCEEDED=DAY, RETENTION_DELETED=2 * DAY, RETENTION_FAILED=None):
        kept_ok = tasks.kept_an_hour.enqueue("ok").id
        kept_bad = tasks.kept_an_hour.enqueue("bad", fail=True).id
        plain_ok = tasks.add.enqueue(1, 2).id
        plain_bad = tasks.fail_once.enqueue("bad").id
        run_all()
        deleted = api.delete(tasks.kept_an_hour.enqueue("never").id)
    by_id = {str(job.pk): job for job in Job.objects.all()}

    def kept_for(job_id):
        job = by_id[str(job_id)]
        return None if job.expires_at is None else (job.expires_at - job.state_changed_at).total_seconds()

    assert by_id[kept_ok].state == State.SUCCEEDED and kept_for(kept_ok) == 3600  # the SQL fast path
    assert by_id[kept_bad].state == State.FAILED and kept_for(kept_bad) == 30 * DAY
    assert kept_for(plain_ok) == DAY
    assert by_id[plain_bad].state == State.FAILED and kept_for(plain_bad) is None
    assert kept_for(deleted.pk) == 2 * DAY
    # Requeued, a job is live again: no expiry until it finishes again.
    assert api.requeue(kept_bad).expires_at is None


# --- Chunked expiry ------------------------------------------------------------------------------


def finished_jobs(n, *, fail=False):
    ids = [tasks.kept_an_hour.enqueue(f"job-{i}", fail=fail).id for i in range(n)]
    run_all()
    return ids


@pytest.mark.django_db
def test_expiry_deletes_due_jobs_in_chunks_with_their_history_and_output():
    due = finished_jobs(7)
    not_due = finished_jobs(2)
    failed_kept = tasks.fail_once.enqueue("kept").id  # Failed, no retention time: kept
    run_all()
    now = timezone.now()
    Job.objects.filter(pk__in=due).update(expires_at=now - timedelta(seconds=1))
    # An inconsistent row (a live job with an expiry) is never removed: only final states are.
    live = tasks.add.enqueue(1, 1).id
    Job.objects.filter(pk=live).update(expires_at=now - timedelta(seconds=1))
    assert JobState.objects.filter(job_id__in=due).count() >= 7 * 3
    assert JobOutput.objects.filter(job_id__in=due).count() == 7

    with CaptureQueriesContext(connection) as queries:
        removed = retention.expire(now, chunk=3)
    assert removed == 7
    chunks = [q["sql"] for q in queries.captured_queries if "DELETE FROM" in q["sql"]]
    assert len(chunks) == 3  # 3 + 3 + 1: one statement per chunk
    assert not Job.objects.filter(pk__in=due).exists()
    assert not JobState.objects.filter(job_id__in=due).exists()
    assert not JobOutput.objects.filter(job_id__in=due).exists()
    left = set(Job.objects.values_list("pk", flat=True))
    assert {str(pk) for pk in left} == {*map(str, not_due), str(failed_kept), str(live)}
    assert JobState.objects.filter(job_id__in=not_due).count() >= 2 * 3


@pytest.mark.django_db
def test_expiry_clears_links_to_the_removed_jobs():
    parent = tasks.add.enqueue(1, 2).id
    child = api.continue_with(parent, tasks.add, 3, 4, on="any finished").id
    run_all()
    recurring = RecurringJob.objects.create(
        id="links", task_path=PLAIN, cron="* * * * *", last_job_id=parent, args=[1, 2]
    )
    Job.objects.filter(pk=parent).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert maintenance.expire_jobs.call()["jobs"] == 1
    assert Job.objects.get(pk=child).parent_id is None
    recurring.refresh_from_db()
    assert recurring.last_job_id is None


@pytest.mark.django_db
def test_failed_jobs_expire_only_when_a_time_is_set():
    with jobs_settings(RETENTION_FAILED=None):
        kept = tasks.fail_once.enqueue("kept").id
        run_all()
    with jobs_settings(RETENTION_FAILED=1):
        going = tasks.fail_once.enqueue("going").id
        run_all()
    later = timezone.now() + timedelta(days=3650)
    assert retention.expire(later) == 1
    assert list(Job.objects.values_list("pk", flat=True)) == [Job.objects.get(pk=kept).pk]
    assert not Job.objects.filter(pk=going).exists()


@pytest.mark.django_db(transaction=True)
def test_an_expiry_chunk_holds_nothing_a_claim_waits_on():
    """A chunk that has deleted its rows and not committed yet (the worst moment) leaves the
    claim free: the claim, with a lock timeout, takes its job at once. A job someone holds
    (say, being requeued) is skipped, not waited for."""
    due = finished_jobs(5)
    Job.objects.filter(pk__in=due).update(expires_at=timezone.now() - timedelta(seconds=1))
    waiting = tasks.add.enqueue(2, 2).id
    deleted_in_chunk = threading.Event()
    release = threading.Event()
    result = {}

    def chunk_left_open():
        try:
            other = connections.create_connection("default")
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(sql.EXPIRE_CHUNK_SQL, {"now": timezone.now(), "limit": 1000})
                result["gone"] = cursor.fetchone()[0]
                deleted_in_chunk.set()
                release.wait(30)
                cursor.execute("COMMIT")
            other.close()
        finally:
            deleted_in_chunk.set()

    holder = threading.Thread(target=chunk_left_open)
    holder.start()
    try:
        assert deleted_in_chunk.wait(30)
        assert result["gone"] == 5
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        rows = claim_jobs(None, ["default"], 1)
        assert [str(row[0]) for row in rows] == [str(waiting)]
        # A second expiry meanwhile skips the rows the first one holds instead of waiting.
        with connection.cursor() as cursor:
            cursor.execute(sql.EXPIRE_CHUNK_SQL, {"now": timezone.now(), "limit": 1000})
            assert cursor.fetchone()[0] == 0
    finally:
        release.set()
        holder.join(30)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert not Job.objects.filter(pk__in=due).exists()


def test_chunk_must_be_positive():
    with pytest.raises(ValueError, match="chunk must be a positive number of rows"):
        retention.expire(timezone.now(), chunk=0)


# --- The migration --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_migration_gives_finished_jobs_their_expiry_from_todays_rule():
    migration = importlib.import_module("jobs.migrations.0018_retention_expiry")
    ok = tasks.add.enqueue(1, 1).id
    bad = tasks.fail_once.enqueue("bad").id
    run_all()
    Job.objects.update(expires_at=None)  # as if finished before policies existed
    with jobs_settings(RETENTION_SUCCEEDED=DAY, RETENTION_FAILED=None):
        migration.give_finished_jobs_an_expiry(apps, None)
    done = Job.objects.get(pk=ok)
    assert done.expires_at == done.state_changed_at + timedelta(seconds=DAY)
    assert Job.objects.get(pk=bad).expires_at is None
    with jobs_settings(RETENTION_FAILED=60):
        migration.give_finished_jobs_an_expiry(apps, None)
    failed = Job.objects.get(pk=bad)
    assert failed.expires_at == failed.state_changed_at + timedelta(seconds=60)


# --- The console ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_job_page_says_when_it_expires_or_that_it_is_kept(client):
    client.force_login(factories.make_user("viewer"))
    ok = tasks.kept_an_hour.enqueue("ok").id
    bad = tasks.fail_once.enqueue("bad").id
    live = tasks.add.enqueue(1, 1).id
    run_all()
    tasks.add.enqueue(9, 9)  # stays Enqueued: no expiry line
    Job.objects.filter(pk=live).update(state=State.ENQUEUED, expires_at=None)

    def page(job_id):
        return client.get(reverse("jobs_console:job_detail", args=[job_id])).content.decode()

    succeeded = page(ok)
    assert "expires in 59\xa0minutes" in succeeded or "expires in 1\xa0hour" in succeeded
    assert "succeeded 1\xa0hour" in succeeded and "failed 4\xa0weeks, 2\xa0days" in succeeded
    failed = page(bad)
    assert "kept until someone acts" in failed
    enqueued = page(live)
    assert 'id="job-expiry"' not in enqueued
