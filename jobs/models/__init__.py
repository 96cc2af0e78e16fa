"""The engine's tables. (The outbox moved to notifications/, the common service's tokens and
identities to common/; their tables kept their jobs_* names.) And the domain events' tables:
outbox, processed message ids, consumers (jobs/events)."""

from jobs.models.engine import (  # noqa: F401
    Batch,
    BatchState,
    ContinuationOn,
    FinishedCount,
    Job,
    JobOutput,
    JobState,
    Misfire,
    RecurringJob,
    Server,
    State,
)
from jobs.models.events import EventConsumer, EventOutbox, ProcessedEvent  # noqa: F401
