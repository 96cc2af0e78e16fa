"""Samples of each queue's backlog over time: the queues page's 24-hour chart.

Each server's housekeeping calls `sample()` with the other roll-ups (every
STATS_ROLLUP_INTERVAL seconds). Once per INTERVAL one of them finds the interval not sampled
yet, counts the live jobs of every queue (one statement, from indexes), and stores one QueueDepth row
per queue, zero included (a queue that drained is a point at 0, not a gap). Rows are inserted
with ON CONFLICT DO NOTHING: when two servers sample the same interval, the first one's rows
stand and the other's are dropped, so each interval has one owner. The same owner forgets the
rows older than KEEP.

A gap in the chart means that no server ran during that interval, which is worth seeing.
"""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from jobs.conf import jobs_settings
from jobs.models import QueueDepth, State

INTERVAL = timedelta(minutes=5)
# The chart shows 24 hours; a few more are kept so a page opened at any minute has a full day.
KEEP = timedelta(hours=26)
LIVE = (State.ENQUEUED, State.SCHEDULED, State.PROCESSING)
COLOURS = 6  # series colours in console.css


def interval_start(at: datetime) -> datetime:
    """The start (UTC) of the INTERVAL holding `at`."""
    at = at.astimezone(UTC)
    minutes = int(INTERVAL.total_seconds() // 60)
    return at.replace(minute=at.minute - at.minute % minutes, second=0, microsecond=0)


def live_depths() -> tuple[dict[str, dict[str, int]], dict]:
    """({queue: {state: n}} of the Enqueued, Scheduled and Processing jobs, every known queue
    included (zeros), plus any queue that holds jobs without being in JOBS_QUEUES; {queue: oldest
    Enqueued enqueued_at}). One statement, each state counted from an index that holds the queue
    (jobs.metrics.queue_depths, what /metrics reads)."""
    from jobs.metrics import queue_depths

    counts, oldest = queue_depths()
    depths: dict[str, dict[str, int]] = {name: dict.fromkeys(LIVE, 0) for name in jobs_settings.QUEUES}
    for (queue, state), n in counts.items():
        if state in LIVE:
            depths.setdefault(queue, dict.fromkeys(LIVE, 0))[state] = n
    return depths, oldest


def sample(now: datetime | None = None) -> bool:
    """Store this interval's depths if no server has yet; True when this call stored them."""
    now = now or timezone.now()
    start = interval_start(now)
    if QueueDepth.objects.filter(sampled_at=start).exists():
        return False
    depths, _ = live_depths()
    created = QueueDepth.objects.bulk_create(
        [
            QueueDepth(
                sampled_at=start,
                queue=queue,
                enqueued=counts[State.ENQUEUED],
                scheduled=counts[State.SCHEDULED],
                processing=counts[State.PROCESSING],
            )
            for queue, counts in sorted(depths.items())  # one lock order for concurrent samplers
        ],
        ignore_conflicts=True,
    )
    forget_old_samples(now)
    return bool(created)


def forget_old_samples(now: datetime | None = None) -> int:
    """Remove the samples older than KEEP; returns how many."""
    now = now or timezone.now()
    return QueueDepth.objects.filter(sampled_at__lt=now - KEEP).delete()[0]


def history(now: datetime | None = None, hours: int = 24, current: dict | None = None) -> dict:
    """The chart's data: interval starts over `hours` (ISO, UTC), their labels in the console's
    time zone, and per queue its Enqueued, Scheduled and Processing counts per interval (None
    where no sample was taken). The last point is the current count: `current` (live_depths'
    first half), or read now."""
    now = now or timezone.now()
    last = interval_start(now)
    count = int(timedelta(hours=hours) / INTERVAL)
    starts = [last - INTERVAL * (count - 1 - i) for i in range(count)]
    index = {start: i for i, start in enumerate(starts)}
    series: dict[str, dict[str, list]] = {}

    def empty() -> dict[str, list]:
        return {state: [None] * count for state in LIVE}

    for name in jobs_settings.QUEUES:
        series[name] = empty()
    for row in QueueDepth.objects.filter(sampled_at__gte=starts[0], sampled_at__lte=last):
        i = index.get(row.sampled_at.astimezone(UTC))
        if i is None:
            continue
        values = series.setdefault(row.queue, empty())
        values[State.ENQUEUED][i] = row.enqueued
        values[State.SCHEDULED][i] = row.scheduled
        values[State.PROCESSING][i] = row.processing
    # The newest point is now, whether or not a server sampled this interval yet.
    for queue, counts in (current if current is not None else live_depths()[0]).items():
        values = series.setdefault(queue, empty())
        for state in LIVE:
            values[state][-1] = counts[state]
    tz = timezone.get_current_timezone()
    return {
        "starts": [start.isoformat() for start in starts],
        "labels": [timezone.localtime(start, tz).strftime("%H:%M") for start in starts],
        "interval_seconds": INTERVAL.total_seconds(),
        # `colour`: the chart's series class (q0…q5, console.css), by position, so any name has one.
        "queues": [
            {"queue": queue, "colour": i % COLOURS, **values}
            for i, (queue, values) in enumerate(series.items())
        ],
    }
