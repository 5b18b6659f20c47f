"""The embedded mode's worker: a Celery worker in a thread of the web (or demo) process.

Without REDIS_URL the broker is kombu's in-memory transport, which only this process can reach,
so the process that enqueues must also consume. It is a real `WorkController` on the same Celery
app, queues and tasks as `celery worker`, so the engine runs the same way in both modes.
"""
from __future__ import annotations

import logging
import threading

from celery.utils.timer2 import Timer
from celery.worker import WorkController
from sqlalchemy import select

from store.models import SyncRun
from workers.celery_app import Qb24Celery
from workers.runs import ACTIVE_RUNS
from workers.tasks import enqueue_full_sync

log = logging.getLogger("qb24.worker.embedded")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


class _Controller(WorkController):
    """A WorkController that says when its consumer is ready (no signal handlers: not the main thread)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.ready = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer: object) -> None:
        self.ready.set()


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
    """One worker thread consuming the app's queues; `stop` shuts it down warm."""

    def __init__(self, celery: Qb24Celery) -> None:
        # The solo pool runs tasks in this thread, where `celery` is made the current app: Celery's
        # pools look the task up in the *current* app, which is thread-local and would otherwise be
        # the process default (a thread pool's threads would need it set too).
        self.celery = celery
        self.controller = _Controller(app=celery, pool="solo", concurrency=1,
                                      queues=celery.queue_names(), hostname=f"embedded{celery.queue_suffix}@qb24",
                                      without_heartbeat=True, without_mingle=True, without_gossip=True,
                                      loglevel=logging.WARNING, ready_callback=None, timer_cls=_timer_of(celery))
        self.thread = threading.Thread(target=self._run, name="qb24-embedded-worker", daemon=True)

    def _run(self) -> None:
        self.celery.set_current()
        self.controller.start()

    def start(self) -> EmbeddedWorker:
        self.thread.start()
        if not self.controller.ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"the embedded Celery worker did not start within {START_TIMEOUT_S:.0f} s")
        log.info("worker.embedded.started")
        return self

    def stop(self) -> None:
        self.controller.stop()
        self.thread.join(STOP_TIMEOUT_S)


_start_lock = threading.Lock()


def ensure_embedded_worker(celery: Qb24Celery) -> None:
    """Start the app's in-process worker once (embedded mode only; production runs `celery worker`)."""
    if not celery.settings.embedded or celery.embedded_worker is not None:
        return
    with _start_lock:
        if celery.embedded_worker is None:
            celery.embedded_worker = EmbeddedWorker(celery).start()
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
