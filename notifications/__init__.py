"""The notification outbox the contexts share: `notifications.services.notify()` writes a
message once under a dedup key and delivers it through Django's email backend.

Contexts import `from notifications.services import notify`. This package imports nothing at
load time, so listing it in INSTALLED_APPS cannot touch models before the app registry is ready.
"""
