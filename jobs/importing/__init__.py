"""Migration tooling: `manage.py import_schedules` (crontab, Quartz.NET, Windows Task Scheduler)
and `manage.py import_hangfire` (a Hangfire.PostgreSql schema).

Engine tooling: it finds tasks through the registry (jobs.registry) and creates recurring jobs
and jobs through the engine's own entry points (jobs.recurring, jobs.api); it imports no bounded
context. Every import validates every entry first and writes nothing when one of them is wrong;
a second run of the same import changes nothing. Nothing here runs a legacy command.
"""
