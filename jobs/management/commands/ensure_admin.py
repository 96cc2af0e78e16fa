"""`manage.py ensure_admin`: make sure someone can log in to the console, and say how.

Creates the superuser "admin" when there is no superuser at all, with the password from
DHANMAN_ADMIN_PASSWORD or, failing that, a generated one. When "admin" exists and
DHANMAN_ADMIN_PASSWORD is set to another password, that password is applied (and said so): a user
who sets it after the first run means it. The "admin" user is put in the Admin group (the old
dashboard's role) every time, so running it again is harmless.

It ends with a short banner (the URL, the user, where the password comes from and how to reset
it). `make run` runs it as the last step of its setup, after the demo data, so that the banner
is what stays on screen when the servers start.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from jobs.roles import ensure_roles

USERNAME = "admin"


def _checked(password: str, user) -> str:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise CommandError(f"DHANMAN_ADMIN_PASSWORD is not acceptable: {' '.join(exc.messages)}") from None
    return password


class Command(BaseCommand):
    help = "Create the superuser 'admin' (in the Admin group) if no superuser exists; print how to log in."

    def handle(self, *args, **options):
        ensure_roles()
        User = get_user_model()
        admin_group = Group.objects.get(name="Admin")
        wanted = os.environ.get("DHANMAN_ADMIN_PASSWORD", "")
        superusers = User.objects.filter(is_superuser=True)
        if superusers.exists():
            existing = superusers.filter(username=USERNAME).first()
            if existing is None:
                name = str(superusers.order_by("pk").values_list("username", flat=True).first())
                self.stdout.write(f"A superuser exists already ({name}): nothing created.")
                self._banner(name, "the one set when it was created")
                return
            with transaction.atomic():
                existing.groups.add(admin_group)
                if wanted and not existing.check_password(wanted):
                    existing.set_password(_checked(wanted, existing))
                    existing.save(update_fields=["password"])
                    self.stdout.write(
                        f"The superuser '{USERNAME}' exists already; its password is now DHANMAN_ADMIN_PASSWORD."
                    )
                else:
                    self.stdout.write(f"The superuser '{USERNAME}' exists already: nothing created.")
            self._banner(
                USERNAME, "from DHANMAN_ADMIN_PASSWORD" if wanted else "the one printed when it was created"
            )
            return
        password = wanted or secrets.token_urlsafe(15)
        with transaction.atomic():
            user = User.objects.filter(username=USERNAME).first() or User(username=USERNAME)
            _checked(password, user)
            user.email = user.email or os.environ.get("DHANMAN_ADMIN_EMAIL", "")
            user.is_staff = True
            user.is_superuser = True
            user.is_active = True
            user.set_password(password)
            user.save()
            user.groups.add(admin_group)
        if wanted:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created superuser '{USERNAME}' with the password from DHANMAN_ADMIN_PASSWORD."
                )
            )
            self._banner(USERNAME, "from DHANMAN_ADMIN_PASSWORD")
        else:
            self.stdout.write(self.style.SUCCESS(f"Created superuser '{USERNAME}'."))
            self._banner(USERNAME, f"{password}  (generated; shown only this once)")

    def _banner(self, username: str, password: str) -> None:
        url = f"http://127.0.0.1:{os.environ.get('DHANMAN_PORT', '8000')}/admin/"
        lines = [
            f"Dhanman: {url}  (the job console: {url}jobs/)",
            f"User:     {username}",
            f"Password: {password}",
            f"Reset it: .venv/bin/python manage.py changepassword {username}",
            "       or: DHANMAN_ADMIN_PASSWORD=... make run",
        ]
        rule = "=" * max(len(line) for line in lines)
        self.stdout.write("\n".join(["", rule, *lines, rule, ""]), self.style.WARNING)
