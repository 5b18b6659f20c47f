"""The embedded mode's workers and beat: Celery in threads of the web (or demo) process.

Without REDIS_URL the broker is kombu's in-memory transport, which only this process can reach,
so the process that enqueues must also consume. Each worker is a real `WorkController` on the same
Celery app, queues and tasks as `celery worker`, so the engine runs the same way in both modes; as
in production (docker-compose.yml) one consumes realtime + celery and another bulk, so a running
full sync never delays a change pull. Beat runs the app's schedule with an in-memory scheduler.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from celery._state import _set_task_join_will_block, task_join_will_block
from celery.beat import Scheduler
from celery.utils.timer2 import Timer
from celery.worker import WorkController, loops
from sqlalchemy import select

from store.models import SyncRun
from workers.celery_app import BULK_QUEUE, DEFAULT_QUEUE, REALTIME_QUEUE, Qb24Celery
from workers.runs import ACTIVE_RUNS
from workers.tasks import enqueue_full_sync

log = logging.getLogger("qb24.worker.embedded")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
# How long a worker's loop waits for a message before it looks whether it was told to stop (Celery's
# own loop waits 2 s: every stack a test stops would wait that long per worker).
DRAIN_S = 0.25
ROLES = {"realtime": (REALTIME_QUEUE, DEFAULT_QUEUE), "bulk": (BULK_QUEUE,)}


class _Controller(WorkController):
    """A WorkController that says when its consumer is ready (no signal handlers: not the main thread)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


class _QuickDrain:
    """The broker connection, waiting at most DRAIN_S per drain (the loop then checks for a stop)."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def drain_events(self, timeout: float | None = None, **kwargs: Any) -> Any:
        return self._connection.drain_events(timeout=min(timeout or DRAIN_S, DRAIN_S), **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def _quick_loop(obj: Any, connection: Any, *args: Any, **kwargs: Any) -> Any:
    """Celery's loop for transports without an event hub (the in-memory one), quick to stop."""
    return loops.synloop(obj, _QuickDrain(connection), *args, **kwargs)


def _timer_of(celery: Qb24Celery) -> type[Timer]:
    """The worker's timer thread with `celery` as its current app.

    Without a hub (the in-memory transport has none) a countdown task - a retry, a deferred run -
    is run by the pool from this timer's own thread, where the current app would be the process
    default: the task would run without this app's services and fail, leaving its run "running".
    """
    class AppTimer(Timer):
        def run(self) -> None:
            celery.set_current()
            super().run()

    return AppTimer


class EmbeddedWorker:
    """One worker thread consuming a role's queues; `stop` shuts it down warm."""

    def __init__(self, celery: Qb24Celery, role: str) -> None:
        # The solo pool runs tasks in this thread, where `celery` is made the current app: Celery's
        # pools look the task up in the *current* app, which is thread-local and would otherwise be
        # the process default (a thread pool's threads would need it set too).
        self.celery, self.role = celery, role
        joins_blocked = task_join_will_block()
        self.controller = _Controller(app=celery, pool="solo", concurrency=1,
                                      queues=celery.queue_names(*ROLES[role]),
                                      hostname=f"embedded-{role}{celery.queue_suffix}@qb24",
                                      without_heartbeat=True, without_mingle=True, without_gossip=True,
                                      loglevel=logging.WARNING, ready_callback=None, timer_cls=_timer_of(celery))
        # Building the pool sets Celery's process-global "joins would block" flag, meant for a process
        # that is only a worker: here every other thread (web requests, the demo, tests) would then be
        # refused `result.get()`. Put it back, as celery.contrib.testing.worker.start_worker does.
        _set_task_join_will_block(joins_blocked)
        if self.controller.consumer.loop is loops.synloop:  # the in-memory transport (Redis has an event hub)
            self.controller.consumer.loop = _quick_loop
        self.thread = threading.Thread(target=self._run, name=f"qb24-embedded-{role}", daemon=True)

    def _run(self) -> None:
        self.celery.set_current()
        self.controller.start()

    def start(self) -> EmbeddedWorker:
        self.thread.start()
        if not self.controller.ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"the embedded Celery worker did not start within {START_TIMEOUT_S:.0f} s")
        log.info("worker.embedded.started", extra={"role": self.role})
        return self

    def stop(self) -> None:
        self.controller.stop()
        self.thread.join(STOP_TIMEOUT_S)


class EmbeddedBeat:
    """`celery beat` in a thread: the app's schedule (workers/celery_app.beat_schedule) on an in-memory
    scheduler, so no schedule file; the first firing of each entry is one period after the start."""

    def __init__(self, celery: Qb24Celery) -> None:
        self.celery = celery
        self.scheduler = Scheduler(celery, lazy=True)
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="qb24-embedded-beat", daemon=True)

    def _run(self) -> None:
        self.celery.set_current()
        self.scheduler.setup_schedule()
        while not self._stopping.is_set():
            try:
                wait = self.scheduler.tick()
            except Exception:  # a publish that failed: beat goes on, as `celery beat` does
                log.exception("beat.embedded.tick_failed")
                wait = 1.0
            self._stopping.wait(min(wait, 1.0))

    def start(self) -> EmbeddedBeat:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.thread.join(STOP_TIMEOUT_S)


class Embedded:
    """The process's workers by role ("realtime", "bulk") and its beat."""

    def __init__(self, celery: Qb24Celery) -> None:
        self.celery = celery
        self.workers: dict[str, EmbeddedWorker] = {}
        self.beat: EmbeddedBeat | None = None

    def stop(self) -> None:
        """Stop beat first (nothing new fired), then the workers, told all at once so they stop together."""
        if self.beat is not None:
            self.beat.stop()
        for worker in self.workers.values():
            worker.controller.stop()
        for worker in self.workers.values():
            worker.thread.join(STOP_TIMEOUT_S)


_start_lock = threading.Lock()


def ensure_embedded_worker(celery: Qb24Celery, *, bulk: bool = True) -> None:
    """Start the app's in-process workers and beat once (embedded mode only; production runs `celery
    worker` and `celery beat`). Without `bulk`, queued full syncs stay pending (tests of the page
    alone); a later call with it starts that worker, which resumes the database's active runs."""
    if not celery.settings.embedded:
        return
    with _start_lock:
        if celery.embedded is None:
            embedded = Embedded(celery)
            embedded.workers["realtime"] = EmbeddedWorker(celery, "realtime").start()
            embedded.beat = EmbeddedBeat(celery).start()
            celery.embedded = embedded
        if bulk and "bulk" not in celery.embedded.workers:
            celery.embedded.workers["bulk"] = EmbeddedWorker(celery, "bulk").start()
            resume_active_runs(celery)


def resume_active_runs(celery: Qb24Celery) -> list[int]:
    """Queue the database's pending and running runs again; their ids.

    The in-memory queue died with the process that last served this database: a run it had queued
    or was running would stay active for ever (and Start sync refused for its portal). Only the
    embedded mode does this: its worker is the only consumer of its queue. With Redis the queue
    outlives the process and acks_late redelivers a task whose worker died; re-queueing there at
    every worker start would multiply messages. A run another process still runs is not run twice:
    the task defers while that process holds the run's lease (workers/lease.py).
    """
    with celery.services.sessions() as session:
        run_ids = list(session.scalars(select(SyncRun.id).where(SyncRun.status.in_(ACTIVE_RUNS)).order_by(SyncRun.id)))
    for run_id in run_ids:
        log.info("worker.embedded.resume", extra={"run_id": run_id})
        enqueue_full_sync(celery.services, run_id)
    return run_ids
