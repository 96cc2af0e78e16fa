"""Continuation and batch races, on two real servers.

1. The last two jobs of a batch finish at the same instant, in two worker processes: both
   transactions count themselves in the batch and see it done; exactly one may finish the batch
   and release its continuation.
2. A job finishes at the same instant as `continue_with` adds a continuation to it: whichever
   takes the parent's row lock first, the continuation is released exactly once (never lost
   Awaiting, never twice).

Each continuation records a unique key, so a second release would fail loudly.
"""

import statistics
import time

import pytest
from django.db.models import Count

from jobs import api
from jobs.models import Batch, BatchState, Job, State
from tests.reliability.drill import SIZE, assert_executed_exactly_once, assert_quiet_logs, start_servers
from tests.reliability.drill import wait_until_all_finished as drain
from tests.reliability.probes import finish_at
from tests.testapp.models import Execution
from tests.testapp.tasks import record

# Seconds between two rounds' finishing instants: four workers hold two rounds at a time, so each
# job is claimed well before the instant it is to finish at.
GAP = 0.4
LEAD = 1.5  # the first round's instant, after the batches are created


def finish_gaps(pairs) -> list[float]:
    """Milliseconds between the two finishes of each pair."""
    done = dict(
        Job.objects.filter(args__0__in=[k for pair in pairs for k in pair]).values_list(
            "args__0", "finished_at"
        )
    )
    return [abs((done[a] - done[b]).total_seconds()) * 1000 for a, b in pairs]


@pytest.mark.django_db(transaction=True)
def test_batch_whose_last_two_jobs_finish_together_releases_its_continuation_once(cluster_factory):
    servers = start_servers(cluster_factory, 2, 2)
    start = time.time() + LEAD
    batches, pairs = [], []
    for i in range(SIZE.race_rounds):
        at = start + i * GAP
        with api.batch(f"race {i}") as b:
            b.enqueue(finish_at, f"race-{i}-a", at)
            b.enqueue(finish_at, f"race-{i}-b", at)
            b.then(record, f"batch-continuation-{i}")
        batches.append(b.id)
        pairs.append((f"race-{i}-a", f"race-{i}-b"))

    drain(servers, timeout=30 + SIZE.race_rounds * GAP * 2)

    keys = {k for pair in pairs for k in pair} | {f"batch-continuation-{i}" for i in range(SIZE.race_rounds)}
    assert_executed_exactly_once(keys)
    assert set(Batch.objects.filter(pk__in=batches).values_list("state", flat=True)) == {BatchState.SUCCEEDED}
    per_batch = dict(
        Job.objects.filter(awaiting_batch_id__in=batches)
        .values_list("awaiting_batch")
        .annotate(n=Count("id"))
    )
    assert per_batch == dict.fromkeys(batches, 1)
    continuations = Job.objects.filter(awaiting_batch_id__in=batches)
    assert set(continuations.values_list("state", "attempt")) == {(State.SUCCEEDED, 1)}
    # Released once: Awaiting -> Enqueued appears once in each continuation's history.
    for job in continuations:
        assert list(job.history.order_by("id").values_list("name", flat=True)) == [
            "awaiting",
            "enqueued",
            "processing",
            "succeeded",
        ]
    gaps = finish_gaps(pairs)
    # The drill only proves something if the finishes did collide.
    assert statistics.median(gaps) < 50, gaps
    print(f"{len(pairs)} batches; finish gap median {statistics.median(gaps):.1f} ms, max {max(gaps):.1f} ms")
    assert_quiet_logs(servers)


@pytest.mark.django_db(transaction=True)
def test_continuation_added_as_its_parent_finishes_is_released_once(cluster_factory):
    servers = start_servers(cluster_factory, 2, 2)
    start = time.time() + LEAD
    parents = [finish_at.enqueue(f"parent-{i}", start + i * GAP) for i in range(SIZE.race_rounds)]
    children = []
    for i, parent in enumerate(parents):
        time.sleep(max(0.0, start + i * GAP - time.time()))
        children.append(api.continue_with(parent, record, f"continuation-{i}").id)

    drain(servers, timeout=30)

    assert_executed_exactly_once(
        {f"parent-{i}" for i in range(SIZE.race_rounds)}
        | {f"continuation-{i}" for i in range(SIZE.race_rounds)}
    )
    assert Job.objects.filter(parent__isnull=False).count() == SIZE.race_rounds
    for i, child in enumerate(Job.objects.filter(pk__in=children).order_by("created_at")):
        assert (child.state, child.attempt) == (State.SUCCEEDED, 1)
        rows = list(child.history.order_by("id").values_list("name", "created_at"))
        assert [name for name, _ in rows] == ["awaiting", "enqueued", "processing", "succeeded"]
        # The timeline reads in the order things happened: the finishing parent waited for
        # continue_with's lock, so it cannot release the child before the child existed.
        times = [at for _, at in rows]
        assert times == sorted(times), f"continuation {child.pk} history out of order: {rows}"
        assert child.enqueued_at >= child.created_at
        assert Execution.objects.get(key=f"continuation-{i}").job_id == str(child.pk)
    assert_quiet_logs(servers)
