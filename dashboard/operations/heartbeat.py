"""Worker liveness: a row per worker, refreshed from a daemon thread."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time

from django.db import close_old_connections, connection
from django.utils import timezone

from contacts.services.imports import prune_import_files
from dashboard.models import WorkerHeartbeat
from dashboard.operations import queue

logger = logging.getLogger(__name__)
INTERVAL_SECONDS = 10
# A worker not seen for this long is taken for dead.
STALE_AFTER = dt.timedelta(seconds=60)
# Seconds between two prunings of finished job records by one worker (the first at start).
PRUNE_EVERY = 3600


def beat(worker_id: str) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"hostname": socket.gethostname(), "pid": os.getpid(), "last_seen": now, "stopped_at": None},
        create_defaults={
            "hostname": socket.gethostname(), "pid": os.getpid(), "started_at": now, "last_seen": now,
        },
    )  # fmt: skip


def stop(worker_id: str) -> None:
    WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped_at=timezone.now())


def live_workers():
    return WorkerHeartbeat.objects.filter(
        stopped_at__isnull=True, last_seen__gte=timezone.now() - STALE_AFTER
    )


class HeartbeatThread(threading.Thread):
    def __init__(self, worker_id: str):
        super().__init__(name="heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stopping = threading.Event()
        self.next_prune = time.monotonic()

    def tick(self) -> None:
        """One beat, and the worker's share of housekeeping when it is due."""
        try:
            close_old_connections()
            beat(self.worker_id)
        except Exception:  # a missed beat must never kill the worker
            logger.exception("worker heartbeat failed")
        if time.monotonic() >= self.next_prune:
            self.next_prune = time.monotonic() + PRUNE_EVERY
            try:
                if pruned := queue.prune_finished():
                    logger.info("pruned %d finished job records", pruned)
            except Exception:  # nor a failed pruning: the next one catches up
                logger.exception("pruning finished job records failed")
            try:
                if deleted := prune_import_files():
                    logger.info("deleted %d import files nothing can use any more", deleted)
            except Exception:
                logger.exception("deleting old import files failed")

    def run(self) -> None:
        while not self.stopping.is_set():
            self.tick()
            self.stopping.wait(INTERVAL_SECONDS)
        connection.close()
