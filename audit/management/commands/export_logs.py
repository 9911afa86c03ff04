"""`manage.py export_logs --project UUID --since … --until … --format jsonl|csv`: a project's raw rows."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import export


class Command(BaseCommand):
    help = (
        "Write a project's request-log rows of a time range, oldest first, as JSON Lines or CSV, to a file "
        "or stdout. Reads in chunks: memory stays flat whatever the range. A day alone for --until includes "
        "that day; times are exact (--until excluded)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="Project uuid.")
        parser.add_argument("--since", required=True, help="From this day or ISO 8601 time.")
        parser.add_argument("--until", required=True, help="Up to this day (included) or time (excluded).")
        parser.add_argument("--format", default="jsonl", choices=export.FORMATS)
        parser.add_argument("--output", "-o", help="File to write (default: stdout).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project, since, until, fmt = export.parse_range(
                options["project"], options["since"], options["until"], options["format"]
            )
        except export.ExportError as exc:
            raise CommandError(str(exc)) from None
        output = options.get("output")
        chunks = export.stream(project, since, until, fmt)
        if not output:
            for text in chunks:
                self.stdout.write(text, ending="")
            return
        with open(output, "w", encoding="utf-8", newline="") as out:
            for text in chunks:
                out.write(text)
        self.stderr.write(f"Exported to {output}")
