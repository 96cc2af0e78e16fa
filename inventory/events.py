"""What inventory does when other Dhanman services publish events (jobs.events; docs/events.md)."""

from inventory import tasks
from jobs.events import handles


@handles("inventory.stock_moved", data={"item_id": int})
def check_stock_level(event):
    """Stock moved elsewhere (a store issue, a stock take): the low-stock alert is raised at once
    when the item is at its reorder level, not at the next daily `check-low-stock-alerts`."""
    tasks.raise_low_stock_alert.enqueue(event.data["item_id"])
