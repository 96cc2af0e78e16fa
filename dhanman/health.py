"""/healthz (the process answers) and /readyz (it can do its work), as JSON with 200 or 503."""

from datetime import timedelta

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from jobs.conf import jobs_settings


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    checks = {}
    try:
        connection.ensure_connection()
        checks["database"] = "ok"
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        checks["migrations"] = "ok" if not pending else f"{len(pending)} unapplied"
        from jobs.models import Server, ServerStatus

        fresh = timezone.now() - timedelta(seconds=jobs_settings.SERVER_TIMEOUT)
        live = Server.objects.filter(status=ServerStatus.RUNNING, heartbeat_at__gte=fresh).count()
        checks["job_servers"] = live if live else "none with a fresh heartbeat"
    except DatabaseError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = (
        checks.get("database") == "ok"
        and checks.get("migrations") == "ok"
        and isinstance(checks.get("job_servers"), int)
    )
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
    )
