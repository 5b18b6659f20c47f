"""The Celery application: Redis broker in production, an in-memory one in the embedded mode.

`celery -A workers.celery_app worker` finds `app` through the module `__getattr__`, so the
settings (and ./.env, config/env.py) are read when a worker starts, never at import (STYLE: no
import-time configuration; the web app and tests import this module too).
A worker consumes every queue unless told otherwise: production runs `-Q realtime,celery` (change
pulls, revocations, beat's tasks) apart from `-Q bulk` (full syncs), so a long full sync never holds
up a change pull. Beat's schedule (reconciliation pulls, the grant sweep) is on the app, so
`celery beat` and the embedded mode's in-process beat (workers/embedded.py) fire the same entries.
`celery beat` keeps its schedule file where its user can write (beat_schedule_file), never in the
working directory: the image's /app is root's, and an unwritable schedule is a crash loop.
"""
from __future__ import annotations

import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from celery import Celery, signals
from celery.beat import PersistentScheduler
from kombu import Queue

from config.env import load_env_file
from config.logging import configure_celery_logging, quiet_secret_loggers
from config.settings import Settings, load_settings
from workers.context import Services

# Tasks must finish (or re-queue themselves) well inside the broker's redelivery window.
VISIBILITY_TIMEOUT_S = 3600
# realtime: QuickBooks change pulls and record retries, consumed ahead of (and apart from) bulk full syncs.
DEFAULT_QUEUE, BULK_QUEUE, REALTIME_QUEUE = "celery", "bulk", "realtime"
# The embedded mode's broker; with a host named, kombu does not warn "No hostname was supplied" on every connect.
EMBEDDED_BROKER = "memory://localhost//"
FULL_SYNC = "qb24.full_sync"
PULL_CHANGES = "qb24.pull_changes"  # args (realm_id, noticed_at: epoch seconds of the newest event it answers)
RETRY_RECORD = "qb24.retry_record"  # args (portal_id, qbo_type, qbo_id)
RECONCILE_ALL = "qb24.reconcile_all"  # kwargs (lookback_s=None): a pull for every connected realm
SWEEP_GRANTS = "qb24.sweep_grants"  # expired pending grants to revocations, stale revocations queued again
REVOKE_TOKENS = "qb24.revoke_tokens"  # args (revocation_id)
EXPORT_RECORDS = "qb24.export_records"  # args (portal_id): the portal's recorded Bitrix24 add events
SWEEP_EXPORTS = "qb24.sweep_exports"  # an export for every portal with add events not handled yet
ROUTES = {FULL_SYNC: BULK_QUEUE, PULL_CHANGES: REALTIME_QUEUE, RETRY_RECORD: REALTIME_QUEUE,
          EXPORT_RECORDS: REALTIME_QUEUE, RECONCILE_ALL: DEFAULT_QUEUE, SWEEP_GRANTS: DEFAULT_QUEUE,
          SWEEP_EXPORTS: DEFAULT_QUEUE, REVOKE_TOKENS: DEFAULT_QUEUE}
TASK_MODULES = ["workers.tasks", "workers.changes", "workers.change_retry", "workers.reconcile",
                "workers.revocations", "workers.exports"]
# The daily reconciliation looks back a whole day past the watermark (a change QuickBooks stamped late).
DAILY_S = 86400
SCHEDULE_FILE_NAME = "celerybeat-schedule"
# Beat wakes at least this often, so its remote-control node (which `qb24 healthcheck beat` pings) stops
# answering within max(2 × this, 60 s) of a stalled scheduler (celery.beat.BeatPidbox.max_tick_age).
BEAT_MAX_LOOP_S = 30.0


class Qb24Celery(Celery):
    """A Celery app that knows the settings its tasks build their services from."""

    def __init__(self, settings: Settings, services: Services | None = None, **options: Any) -> None:
        super().__init__("qb24", **options)
        self.settings = settings
        self._services = services
        self.embedded: Any = None  # workers.embedded.Embedded (its workers and beat) once started
        self.queue_suffix = ""

    @cached_property
    def services(self) -> Services:
        """The web app's own services when it made this app, else built once for this worker process."""
        return self._services or Services.from_settings(self.settings)

    def queue_names(self, *queues: str) -> list[str]:
        """These queues' names in this app (all three when none is named)."""
        return [queue + self.queue_suffix for queue in queues or (REALTIME_QUEUE, DEFAULT_QUEUE, BULK_QUEUE)]

    def stop_embedded_worker(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


def make_celery(settings: Settings, services: Services | None = None) -> Qb24Celery:
    """A Celery app for these settings; tasks ack late so a crashed worker's task is redelivered."""
    from workers.task_metrics import connect_task_signals  # it reads this module's names

    quiet_secret_loggers()  # whoever configures logging, keep request URLs out of DEBUG logs
    # `celery worker`/`celery beat` log through config/logging.py (text or JSON, secrets cut) instead of
    # configuring the root logger themselves; the embedded workers never send the signal.
    signals.setup_logging.connect(configure_celery_logging, weak=False, dispatch_uid="qb24.logging")
    broker = settings.redis_url or EMBEDDED_BROKER
    celery = Qb24Celery(settings, services, broker=broker, include=TASK_MODULES)
    connect_task_signals()  # every task's end counted for /metrics, in whichever process runs it
    # kombu's in-memory queues are one set per process: two embedded apps in one process (tests,
    # a CLI beside a web app) get queue names of their own, or one's worker would take the other's tasks.
    suffix = "" if settings.redis_url else "." + secrets.token_hex(4)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        # The in-memory transport is polled: a fifth of a second keeps Start sync responsive.
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S,
                                  **({} if settings.redis_url else {"polling_interval": 0.2})},
        broker_connection_retry_on_startup=True,
        task_default_queue=DEFAULT_QUEUE + suffix,
        task_queues=(Queue(REALTIME_QUEUE + suffix), Queue(DEFAULT_QUEUE + suffix), Queue(BULK_QUEUE + suffix)),
        task_routes={name: {"queue": queue + suffix} for name, queue in ROUTES.items()},
        beat_schedule=beat_schedule(settings),
        beat_schedule_filename=beat_schedule_file(),
        beat_scheduler=f"{__name__}:{StateDirScheduler.__name__}",
        beat_max_loop_interval=BEAT_MAX_LOOP_S,
        beat_enable_remote_control=True,  # beat answers `celery inspect ping` while it ticks
    )
    celery.queue_suffix = suffix
    return celery


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Reconciliation every RECONCILE_INTERVAL_S and daily (a lost webhook is caught), the grant sweep, and
    the export sweep (Bitrix24 never resends an event: one whose export could not be queued or failed is
    picked up from the store).

    An entry's message expires after its period: beat keeps firing while the workers are down, and
    one reconciliation after they are back covers every missed one."""
    every = settings.reconcile_interval_s
    return {
        "reconcile": {"task": RECONCILE_ALL, "schedule": every, "options": {"expires": every}},
        "reconcile-daily": {"task": RECONCILE_ALL, "schedule": float(DAILY_S),
                            "kwargs": {"lookback_s": DAILY_S}, "options": {"expires": float(DAILY_S)}},
        "sweep-grants": {"task": SWEEP_GRANTS, "schedule": every, "options": {"expires": every}},
        "sweep-exports": {"task": SWEEP_EXPORTS, "schedule": every, "options": {"expires": every}},
    }


def beat_schedule_file(env: Mapping[str, str] | None = None) -> str:
    """Where `celery beat` keeps its schedule (each entry's last run): BEAT_SCHEDULE_FILE (production: the
    beat volume), else the user's state directory (XDG_STATE_HOME, ~/.local/state), else a directory of
    this user's own in the temp directory when the home cannot be written (`nobody`'s is /nonexistent).

    A deployment setting of the beat process alone, read with the app (never at import); losing the file
    only restarts each entry's period."""
    env = os.environ if env is None else env
    chosen = env.get("BEAT_SCHEDULE_FILE", "").strip()
    if chosen:
        return os.path.expanduser(chosen)
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    state = Path(env.get("XDG_STATE_HOME") or home / ".local" / "state") / "qb24"
    if _can_create(state):
        return str(state / SCHEDULE_FILE_NAME)
    return str(Path(tempfile.gettempdir()) / f"qb24-{os.getuid()}" / SCHEDULE_FILE_NAME)


def _can_create(directory: Path) -> bool:
    """This user can write in `directory`, or create it: its nearest existing ancestor is writable."""
    for path in (directory, *directory.parents):
        if path.exists():
            return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
    return False


class StateDirScheduler(PersistentScheduler):
    """Celery's file-backed scheduler, which first makes its file's directory (the state directory of a
    fresh home, the temp one), private to this user. It refuses a directory of another user's that others
    may write (/tmp itself): the file is a shelve of pickles beat loads, so a planted one runs as beat."""

    def setup_schedule(self) -> None:
        directory = Path(self.schedule_filename).parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
        if info.st_uid != os.getuid() and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise PermissionError(f"beat's schedule directory {directory} is another user's and writable by "
                                  "others; set BEAT_SCHEDULE_FILE to a file in a directory of this user's")
        super().setup_schedule()


def __getattr__(name: str) -> Any:
    if name == "app":  # `celery -A workers.celery_app` asks for it: the worker's or beat's start
        load_env_file()
        app = make_celery(load_settings())
        globals()["app"] = app
        return app
    raise AttributeError(name)
