"""The job console: Hangfire's dashboard, inside the Django admin.

Pages read through `stats` and `listing` (bounded queries shaped after the Job table's indexes);
every change goes through `jobs.api` via `actions`. Each page and action checks its own
permission (`access`): the admin's wrapper only checks `is_staff`, which is not enough here.
"""
