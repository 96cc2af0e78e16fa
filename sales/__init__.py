"""Sales: societies, residents, invoices, payments, late fees and the resident ledger."""
