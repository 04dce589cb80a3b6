"""Import a CSV file from the command line through the same service as the dashboard.

manage.py import_contacts leads.csv --list 3 --tag spring --mode upsert
manage.py import_contacts leads.csv --map "Work email=email" --map "Score=field:Lead score"
manage.py import_contacts --resume 42
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.imports.models import ImportJob, ImportMode
from contacts.services import imports
from dashboard.actors import Actor
from dashboard.errors import SwitchboardError


class Command(BaseCommand):
    help = "Import contacts from a CSV file (runs here, unless --queue hands it to the worker)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", type=Path)
        parser.add_argument("--mode", choices=ImportMode.values, default=ImportMode.UPSERT)
        parser.add_argument("--list", dest="lists", type=int, action="append", default=[])
        parser.add_argument("--tag", dest="tags", action="append", default=[])
        parser.add_argument("--region", default="", help="Default phone region, e.g. GB.")
        parser.add_argument(
            "--map", dest="mapping", action="append", default=[], metavar="HEADER=TARGET",
            help="Column mapping (email, phone, first_name, last_name, tags, field:<name>, "
            "meta:<key>); without it columns are matched from their names.",
        )  # fmt: skip
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--webhook", default="")
        parser.add_argument(
            "--queue", action="store_true", help="Leave the run to the worker (manage.py worker)."
        )
        parser.add_argument("--resume", type=int, metavar="JOB", help="Resume a stopped job.")

    def handle(self, *args, **options) -> None:
        actor = Actor.system("import_contacts command")
        try:
            if options["resume"] is not None:
                job = ImportJob.objects.filter(pk=options["resume"]).first()
                if job is None:
                    raise CommandError(f"There is no import #{options['resume']}.")
                # Run here unless --queue: a queued task as well would only find it taken.
                job = imports.resume_import(actor=actor, job=job, enqueue=options["queue"])
            else:
                job = self._start(actor, options)
        except SwitchboardError as exc:
            raise CommandError(_explain(exc)) from None
        if options["queue"]:
            self.stdout.write(f"Queued import #{job.pk}; `manage.py worker` runs it.")
            return
        started = time.perf_counter()
        job = imports.run_import(job.pk)
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Import #{job.pk} {job.status}: {job.rows_done:,} rows in {seconds:.1f}s "
            f"({job.rows_done / seconds if seconds else 0:,.0f} rows/s); imported {job.imported:,}, "
            f"updated {job.updated:,}, skipped {job.skipped:,}, invalid {job.invalid:,}."
        )
        if job.error:
            raise CommandError(job.error)

    def _start(self, actor: Actor, options: dict) -> ImportJob:
        path: Path | None = options["file"]
        if path is None:
            raise CommandError("Give a CSV file (or --resume JOB).")
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        mapping = None
        if options["mapping"]:
            mapping = {}
            for item in options["mapping"]:
                header, sep, target = item.rpartition("=")
                if not sep or not header:
                    raise CommandError(f"--map takes HEADER=TARGET; got “{item}”.")
                if mapping.get(header, target) != target:
                    # The last one would silently win (and an Email column be reported missing).
                    raise CommandError(
                        f"--map gives “{header}” two targets ({mapping[header]}, {target}); "
                        "give it one."
                    )
                mapping[header] = target
        with path.open("rb") as stream:
            return imports.start_import(
                actor=actor,
                file=stream,
                file_name=path.name,
                size=path.stat().st_size,
                mapping=mapping,
                mode=options["mode"],
                list_ids=options["lists"],
                tag_names=options["tags"],
                default_region=options["region"],
                dry_run=options["dry_run"],
                webhook_url=options["webhook"],
                enqueue=options["queue"],
            )


def _explain(error: SwitchboardError) -> str:
    """The error's message, or each of its problems on a line of its own."""
    if len(error.problems) == 1:
        return error.message
    lines = [f"{len(error.problems)} problems:"]
    lines += [f"- {problem.message}" for problem in error.problems]
    return "\n".join(lines)
