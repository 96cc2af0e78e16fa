"""The common service: Auth0 user sync, refresh tokens, the system health report, the daily
reports, log cleanup and database backups (the seed's "Common Service").

A bounded context like sales: it uses the job engine (jobs) the way every context does, reads
the job tables for its reports (selectors.py), and sends mail through the shared outbox
(notifications). The engine imports nothing from here.
"""
