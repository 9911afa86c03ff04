"""`manage.py restore INPUT.json`: load a backup into an empty database, in one transaction."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import backup


class Command(BaseCommand):
    help = (
        "Restore a file written by `manage.py backup` into an empty (migrated) database, all or nothing. "
        "Needs the PROMPTGATE_ENCRYPTION_KEYS the backup was made with."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("input", help="Path of the backup JSON file.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Restore into a database that already holds data (rows with the same id are overwritten; "
            "existing audit rows are kept).",
        )

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        path = options["input"]
        try:
            counts = backup.restore_from_file(path, force=force)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count}")
        self.stdout.write(self.style.SUCCESS(f"Restored {sum(counts.values())} row(s) from {path}"))
