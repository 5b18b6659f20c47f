"""Fair queues (issue 10 item 3): full syncs on `bulk`, change pulls and revocations on `realtime` and
`celery`, each with a worker of its own in the embedded mode as in docker-compose.yml, so a running
full sync never delays a change pull; a worker started without -Q still consumes all three."""
from __future__ import annotations

import threading
import time

from celery._state import task_join_will_block

from config.settings import load_settings
from tests.config.test_settings import VALID
from tests.support import wait_for
from tests.workers.queue_support import embedded_services
from workers.celery_app import (BULK_QUEUE, DEFAULT_QUEUE, FULL_SYNC, PULL_CHANGES, REALTIME_QUEUE, RECONCILE_ALL,
                                RETRY_RECORD, REVOKE_TOKENS, SWEEP_GRANTS, make_celery)
from workers.embedded import ensure_embedded_worker


def test_tasks_are_routed_to_their_queue_and_a_plain_worker_consumes_all_three():
    celery = make_celery(load_settings({**VALID, "REDIS_URL": "redis://127.0.0.1:6379/9"}))
    queue = {name: celery.amqp.router.route({}, name)["queue"].name
             for name in (FULL_SYNC, PULL_CHANGES, RETRY_RECORD, REVOKE_TOKENS, RECONCILE_ALL, SWEEP_GRANTS)}
    assert queue == {FULL_SYNC: BULK_QUEUE, PULL_CHANGES: REALTIME_QUEUE, RETRY_RECORD: REALTIME_QUEUE,
                     REVOKE_TOKENS: DEFAULT_QUEUE, RECONCILE_ALL: DEFAULT_QUEUE, SWEEP_GRANTS: DEFAULT_QUEUE}
    # `celery -A workers.celery_app worker` without -Q consumes every queue the app declares.
    assert sorted(q.name for q in celery.conf.task_queues) == sorted([BULK_QUEUE, DEFAULT_QUEUE, REALTIME_QUEUE])


def test_a_busy_bulk_worker_does_not_delay_realtime_work(tmp_path):
    with embedded_services(tmp_path) as services:
        celery, running, release, ran = services.celery, threading.Event(), threading.Event(), []

        # Stand-ins for a long full sync and a change pull, on the real workers and queues.
        @celery.task(name="test.long_bulk", shared=False)
        def long_bulk() -> None:
            running.set()
            release.wait(20)

        @celery.task(name="test.quick_realtime", shared=False)
        def quick_realtime(mark: str) -> None:
            ran.append((mark, time.monotonic()))

        ensure_embedded_worker(celery)
        try:
            long_bulk.apply_async(queue=celery.queue_names(BULK_QUEUE)[0])
            wait_for(running.is_set, "the bulk task to start")
            started = time.monotonic()
            for queue in celery.queue_names(REALTIME_QUEUE, DEFAULT_QUEUE):
                quick_realtime.apply_async((queue,), queue=queue)
            wait_for(lambda: len(ran) == 2, "both realtime-side tasks to run while the bulk task runs", timeout=5)
            assert not release.is_set() and max(at for _, at in ran) - started < 2
        finally:
            release.set()


def test_embedded_workers_and_beat_stop_quickly(tmp_path):
    with embedded_services(tmp_path) as services:
        ensure_embedded_worker(services.celery)
        embedded = services.celery.embedded
        assert sorted(embedded.workers) == ["bulk", "realtime"] and embedded.beat.thread.is_alive()
        threads = [worker.thread for worker in embedded.workers.values()] + [embedded.beat.thread]
        started = time.monotonic()
        services.celery.stop_embedded_worker()
        assert time.monotonic() - started < 1.5  # Celery's own loop would wait 2 s per worker
        assert not any(thread.is_alive() for thread in threads) and services.celery.embedded is None


def test_without_bulk_only_full_syncs_wait(tmp_path):
    """A stack started with worker=False (tests of the page alone): runs stay pending, the rest runs."""
    with embedded_services(tmp_path) as services:
        ensure_embedded_worker(services.celery, bulk=False)
        assert sorted(services.celery.embedded.workers) == ["realtime"]
        ensure_embedded_worker(services.celery)  # a later start adds the bulk worker
        assert sorted(services.celery.embedded.workers) == ["bulk", "realtime"]


def test_embedded_workers_leave_the_other_threads_free_to_join_a_result(tmp_path):
    """Celery's "inside a task" flag is process-global: a worker in a thread of the web (or test)
    process must not make every other thread's `result.get()` raise "Never call result.get() within a task"."""
    with embedded_services(tmp_path) as services:
        @services.celery.task(name="test.answer", shared=False)
        def answer() -> int:
            return 42

        ensure_embedded_worker(services.celery)
        assert not task_join_will_block() and answer.apply().get() == 42
