"""The jobs app's models: the engine's tables, the common service's own (outbox, tokens), and the
domain events' (outbox, processed message ids, consumers)."""

from jobs.models.common import ExternalIdentity, OutboxMessage, RefreshToken  # noqa: F401
from jobs.models.engine import (  # noqa: F401
    Batch,
    BatchState,
    ContinuationOn,
    FinishedCount,
    Job,
    JobState,
    Misfire,
    RecurringJob,
    Server,
    State,
)
from jobs.models.events import EventConsumer, EventOutbox, ProcessedEvent  # noqa: F401
