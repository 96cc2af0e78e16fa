"""`manage.py ensure_admin`: make sure someone can log in to the console on a fresh install.

Creates the superuser "admin" only when there is no superuser at all, with the password from
DHANMAN_ADMIN_PASSWORD or, failing that, a generated one printed once. The "admin" user is put in
the Admin group (the old dashboard's role) every time, so running it again is harmless.
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


class Command(BaseCommand):
    help = "Create the superuser 'admin' (in the Admin group) if no superuser exists."

    def handle(self, *args, **options):
        ensure_roles()
        User = get_user_model()
        admin_group = Group.objects.get(name="Admin")
        if User.objects.filter(is_superuser=True).exists():
            existing = User.objects.filter(username=USERNAME, is_superuser=True).first()
            if existing is not None:
                existing.groups.add(admin_group)
            self.stdout.write("A superuser exists already: nothing created.")
            return
        password = os.environ.get("DHANMAN_ADMIN_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(15)
        with transaction.atomic():
            user = User.objects.filter(username=USERNAME).first() or User(username=USERNAME)
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise CommandError(
                    f"DHANMAN_ADMIN_PASSWORD is not acceptable: {' '.join(exc.messages)}"
                ) from None
            user.email = user.email or os.environ.get("DHANMAN_ADMIN_EMAIL", "")
            user.is_staff = True
            user.is_superuser = True
            user.is_active = True
            user.set_password(password)
            user.save()
            user.groups.add(admin_group)
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Created superuser '{USERNAME}' with password: {password}\n"
                    "It is shown only this once. Set DHANMAN_ADMIN_PASSWORD to choose it instead."
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created superuser '{USERNAME}' with the password from DHANMAN_ADMIN_PASSWORD."
                )
            )
