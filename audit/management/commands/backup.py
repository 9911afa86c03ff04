"""`manage.py backup OUTPUT.json`: export configuration, users and the audit trail (no plaintext secret)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit import backup


class Command(BaseCommand):
    help = (
        "Write projects, members, tokens (digests only), users, API clients, every configuration model "
        "and the audit trail to a JSON file. Encrypted fields stay encrypted: restoring needs the same "
        "PROMPTGATE_ENCRYPTION_KEYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("output", help="Path of the JSON file to write (replaced atomically).")

    def handle(self, *args: Any, output: str, **options: Any) -> None:
        counts = backup.backup_to_file(output)
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count}")
        self.stdout.write(self.style.SUCCESS(f"Backed up {sum(counts.values())} row(s) to {output}"))
