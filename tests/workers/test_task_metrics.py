"""Celery's tasks, their durations and the queues' depths on /metrics: counted by Celery's signals where the
task runs (Redis hashes, or the embedded mode's own store), read at scrape time. The Redis side with a real
`celery worker` process and gunicorn is in tests/deploy/test_gunicorn_stack.py."""
from __future__ import annotations

import math

import pytest
import redis as redis_lib
from prometheus_client.parser import text_string_to_metric_families

from config.settings import load_settings
from store.db import migrate
from tests.config.test_settings import VALID
from tests.services import WORKER_PROCESS_REDIS_URL, redis_client
from tests.support import wait_for
from webhooks import create_app
from workers.celery_app import BULK_QUEUE, DEFAULT_QUEUE, REALTIME_QUEUE, RECONCILE_ALL, make_celery
from workers.context import Services
from workers.embedded import ensure_embedded_worker
from workers.task_metrics import BUCKETS, RedisTaskMetrics, queue_depths


def samples(app) -> dict[tuple, float]:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for s in family.samples}


def ends(seen: dict[tuple, float], name: str, outcome: str) -> float:
    return seen.get(("qb24_tasks_total", (("name", name), ("outcome", outcome))), 0.0)


def test_the_embedded_workers_tasks_show_on_the_apps_metrics(tmp_path):
    url = f"sqlite:///{tmp_path / 'qb24.db'}"
    migrate(url)
    app = create_app(load_settings({**VALID, "DATABASE_URL": url}))
    celery = app.extensions["qb24"].celery
    try:
        @celery.task(bind=True, name="test.flaky", shared=False, max_retries=1)
        def flaky(self) -> None:  # a task of no known name: counted as "other" (bounded labels)
            if not self.request.retries:
                raise self.retry(countdown=0)
            raise ValueError("gave up")

        celery.send_task(RECONCILE_ALL)
        celery.send_task(RECONCILE_ALL)
        seen = samples(app)
        depths = {queue: seen[("qb24_queue_depth", (("queue", queue),))] for queue in (REALTIME_QUEUE, DEFAULT_QUEUE)}
        assert depths == {REALTIME_QUEUE: 0, DEFAULT_QUEUE: 2}  # no worker yet; named without the embedded suffix
        ensure_embedded_worker(celery, bulk=False)
        flaky.apply_async(queue=celery.queue_names(DEFAULT_QUEUE)[0])
        wait_for(lambda: ends(samples(app), RECONCILE_ALL, "success") == 2 and ends(samples(app), "other", "failure"),
                 "the tasks' ends on /metrics", 20, poll=0.1)
        seen = samples(app)
        assert (ends(seen, "other", "retry"), ends(seen, "other", "failure")) == (1, 1)
        assert seen[("qb24_task_duration_seconds_count", (("name", RECONCILE_ALL),))] == 2
        assert seen[("qb24_queue_depth", (("queue", DEFAULT_QUEUE),))] == 0
    finally:
        app.extensions["qb24"].close()


@pytest.fixture
def broker() -> redis_lib.Redis:
    redis_client().close()  # skips (or fails, in CI) without Redis
    client = redis_lib.Redis.from_url(WORKER_PROCESS_REDIS_URL)
    client.flushdb()  # a database of this test's own (tests/services.py)
    yield client
    client.flushdb()
    client.close()


def test_durations_land_in_the_bucket_whose_bound_holds_them_and_sum_up(broker):
    store = RedisTaskMetrics(broker)
    for seconds in (0.05, 0.0501, 3600.0, 5000.0):  # a bound holds its own value (Prometheus `le`)
        store.record(RECONCILE_ALL, "success", seconds)
    store.record(RECONCILE_ALL, "failure", 1.0)
    totals = RedisTaskMetrics(broker).totals()  # another process reads what this one wrote
    assert totals.counts == {(RECONCILE_ALL, "success"): 4, (RECONCILE_ALL, "failure"): 1}
    runs = dict(zip(BUCKETS, totals.buckets[RECONCILE_ALL]))
    assert {bound: count for bound, count in runs.items() if count} == {0.05: 1, 0.1: 1, 1.0: 1, 3600.0: 1, math.inf: 1}
    assert totals.seconds[RECONCILE_ALL] == pytest.approx(0.05 + 0.0501 + 3600 + 5000 + 1)


def test_queue_depth_counts_messages_of_every_priority_as_kombu_stores_them(broker):
    settings = load_settings({**VALID, "REDIS_URL": WORKER_PROCESS_REDIS_URL})
    celery, services = make_celery(settings), Services(settings, None, broker)  # type: ignore[arg-type]
    try:
        for priority in (None, 0, 4, 9):  # kombu's lists: the queue's own name and one per priority step
            celery.send_task(RECONCILE_ALL, priority=priority)
        celery.send_task("qb24.full_sync", args=(1,), priority=7)
        assert len([key for key in broker.keys(DEFAULT_QUEUE + "*") if not key.startswith(b"_kombu")]) == 3
        assert queue_depths(services) == {REALTIME_QUEUE: 0, DEFAULT_QUEUE: 4, BULK_QUEUE: 1}
    finally:
        celery.close()
