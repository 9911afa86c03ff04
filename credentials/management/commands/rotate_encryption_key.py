"""`manage.py rotate_encryption_key`: re-encrypt every stored secret under the newest key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from credentials import rotation


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value under the first key of PROMPTGATE_ENCRYPTION_KEYS, in batches. "
        "Resumable: values already under the newest key are skipped, so just run it again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=rotation.DEFAULT_BATCH_SIZE)
        parser.add_argument("--dry-run", action="store_true", help="Count what would change; write nothing.")

    def handle(self, *args: Any, batch_size: int, dry_run: bool, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")

        def progress(label: str, counts: rotation.ModelCounts) -> None:
            verb = "would rotate" if dry_run else "rotated"
            self.stdout.write(
                f"{label}: {verb} {counts.rotated}, already current {counts.current}, "
                f"empty {counts.empty}, undecryptable {counts.undecryptable}, "
                f"changed meanwhile {counts.changed_meanwhile}"
            )

        report = rotation.rotate_all(batch_size=batch_size, dry_run=dry_run, progress=progress)
        if not report.models:
            self.stdout.write("No encrypted fields found.")
        prefix = "Dry run: would rotate" if dry_run else "Rotated"
        self.stdout.write(f"{prefix} {report.total('rotated')} value(s) in {len(report.models)} model(s).")
        if report.unreadable:
            for item in report.unreadable:
                self.stderr.write(f"cannot decrypt {item.model} pk={item.pk} field={item.field}")
            raise CommandError(
                f"{len(report.unreadable)} value(s) cannot be decrypted with any configured key and were "
                "left untouched: add the key they were encrypted with to PROMPTGATE_ENCRYPTION_KEYS."
            )
