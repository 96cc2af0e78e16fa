"""What community does when other Dhanman services publish events (jobs.events; docs/events.md)."""

from datetime import datetime

from community import tasks
from jobs.events import handles


@handles("community.visitor_registered", data={"visitor_pass_id": int, "valid_until": datetime})
def schedule_pass_expiry(event):
    """A visitor registered at the gate: the pass expires at its end exactly, instead of at the
    next run of `expire-visitor-passes` (every 30 minutes), which stays as the safety net."""
    tasks.expire_visitor_pass.using(run_after=event.data["valid_until"]).enqueue(
        event.data["visitor_pass_id"]
    )
