"""`manage.py create_api_client NAME --user USERNAME`: an OAuth2 client for the management API."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_application_model


class Command(BaseCommand):
    help = (
        "Create a confidential OAuth2 application (client-credentials grant) acting as USERNAME, and "
        'print {"client_id", "client_secret"} once as one JSON line. Only a hash of the secret is kept.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A name for the client, shown in the audit trail.")
        parser.add_argument("--user", required=True, help="The user whose roles the client acts with.")

    def handle(self, *args: Any, name: str, user: str, **options: Any) -> None:
        try:
            owner = get_user_model().objects.get_by_natural_key(user)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"No user named {user!r}") from exc
        if not owner.is_active:
            raise CommandError(f"User {user!r} is inactive")
        Application = get_application_model()
        # Kept here: saving replaces the field's value with its hash (hash_client_secret).
        secret = generate_client_secret()
        application = Application(
            name=name,
            user=owner,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,
            hash_client_secret=True,
        )
        try:
            application.full_clean()
        except ValidationError as exc:
            raise CommandError(f"Invalid client: {exc.messages}") from exc
        with transaction.atomic():
            application.save()
        self.stdout.write(json.dumps({"client_id": application.client_id, "client_secret": secret}))
