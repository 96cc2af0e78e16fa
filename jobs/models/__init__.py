"""The engine's tables. (The outbox moved to notifications/, the common service's tokens and
identities to common/; their tables kept their jobs_* names.) And the domain events' tables:
outbox, processed message ids, consumers (jobs/events)."""

from jobs.models.audit import AuditEntry, AuditTarget  # noqa: F401
from jobs.models.engine import (  # noqa: F401
    Batch,
    BatchState,
    CancelReason,
    ContinuationOn,
    FinishedCount,
    Job,
    JobOutput,
    JobState,
    Misfire,
    RecurringJob,
    Server,
    ServerStatus,
    State,
)
from jobs.models.events import EventConsumer, EventOutbox, ProcessedEvent  # noqa: F401
from jobs.models.flow import QueuePause  # noqa: F401
from jobs.models.observability import (  # noqa: F401
    Alert,
    AlertKind,
    DurationEstimate,
    JobTally,
    PerformanceMark,
    QueueDepth,
    RecurringSuccess,
    SlaMark,
    TallyMark,
    TaskInterval,
)
