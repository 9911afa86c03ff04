"""Create the first admin on a fresh install (from DJANGO_SUPERUSER_* or with a one-time password)."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from audit import context
from projects.models import PasswordChangeRequired


class Command(BaseCommand):
    help = "Create the first superuser if none exists."

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        generated = not password
        password = password or secrets.token_urlsafe(16)
        with context.bind(actor=context.SYSTEM):
            user = User.objects.create_superuser(
                username=username, email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""), password=password
            )
            if generated:
                # One-time: the console asks for a new password before anything else.
                PasswordChangeRequired.objects.create(user=user, password=user.password)
        if generated:
            self.stdout.write(
                f"Created admin user {username!r} with one-time password: {password}\n"
                "It is shown only now: log in at /admin/, where you will be asked to choose a new one."
            )
        else:
            self.stdout.write(f"Created admin user {username!r} from DJANGO_SUPERUSER_USERNAME/PASSWORD.")
