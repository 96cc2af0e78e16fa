"""Community: events, visitor passes and maintenance requests."""
