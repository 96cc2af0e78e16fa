"""The address a login came from, for django-axes' per-user-and-address lockout.

Behind TRUSTED_PROXY_COUNT proxies, REMOTE_ADDR is the nearest proxy's address: every client
would share one lockout. Each proxy appends the address it saw to X-Forwarded-For, so the
client is the entry TRUSTED_PROXY_COUNT places from the right; entries further left are
whatever the client sent and are never trusted. Without proxies (the default), REMOTE_ADDR.
"""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    proxies = settings.TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR")
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        # Fewer hops than configured: the request did not come through every proxy; the nearest
        # address is all that can be trusted.
        return remote
    return forwarded[-proxies]
