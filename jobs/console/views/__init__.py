"""The console's views, one module per page family; each checks its own access level."""
