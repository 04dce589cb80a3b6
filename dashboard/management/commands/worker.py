"""`manage.py worker`: django-tasks-db's db_worker, on every queue, with a liveness heartbeat.

Run as many as you like, on as many hosts as share the database: each claims tasks with
SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL (one exclusive transaction at a time on SQLite),
so no task runs twice.
"""

from __future__ import annotations

import os
import socket

from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from dashboard.operations import heartbeat


class Command(DbWorkerCommand):
    help = "Run a background task worker (all queues) that reports a heartbeat for /healthz."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(
            queue_name="*",
            worker_id=f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(6)}",
        )

    def handle(self, *args, worker_id: str, reload: bool, **options):
        # With --reload only the child process (the one running tasks) reports.
        beating = not reload or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true"
        thread = heartbeat.HeartbeatThread(worker_id) if beating else None
        if thread:
            thread.start()
        try:
            super().handle(*args, worker_id=worker_id, reload=reload, **options)
        finally:
            if thread:
                thread.stopping.set()
                thread.join(timeout=5)
                heartbeat.stop(worker_id)
