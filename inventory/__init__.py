"""Inventory: stock items, lots with expiry, movements, low-stock alerts and stock reports."""
