"""The jobs app's models: the engine's tables, and the common service's own (outbox, tokens)."""

from jobs.models.audit import AuditEntry, AuditTarget  # noqa: F401
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
