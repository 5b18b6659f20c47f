"""Celery's tasks by name and outcome, their durations and the queues' depths, for /metrics.

Celery workers run in other containers (and machines) than gunicorn, so what they count cannot live in
the web's multiprocess directory: each task's end is added to Redis hashes by the signal handlers below,
which every process reaches, and /metrics reads them at scrape time (TaskCollector), once per scrape.
The embedded mode (no Redis) runs its workers in the web process: an in-process store there. Labels are
bounded: the task names this app defines ("other" for any other) and Celery's end states.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import redis
from celery.signals import task_postrun, task_prerun
from kombu.exceptions import ChannelError
from kombu.transport.redis import PRIORITY_STEPS
from kombu.transport.redis import Channel as RedisChannel
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from workers.celery_app import BULK_QUEUE, DEFAULT_QUEUE, REALTIME_QUEUE, ROUTES

if TYPE_CHECKING:
    from workers.context import Services

log = logging.getLogger("qb24.worker.metrics")
KNOWN_TASKS = frozenset(ROUTES)  # every task of the app is routed to a queue
# task_postrun's `state` (celery/app/trace.py sends it after every run, whatever its end)
OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry", "IGNORED": "ignored",
            "REJECTED": "rejected"}
# From a change pull (well under a second) to a full sync of a large company (an hour and more).
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, math.inf)
QUEUES = (REALTIME_QUEUE, DEFAULT_QUEUE, BULK_QUEUE)
COUNTS_KEY, DURATIONS_KEY = "qb24:metrics:task_counts", "qb24:metrics:task_durations"


@dataclass
class TaskTotals:
    """Ends by (task name, outcome); per task name, its runs in each of BUCKETS (not cumulative) and their sum."""

    counts: dict[tuple[str, str], float] = field(default_factory=dict)
    buckets: dict[str, list[float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class TaskMetrics(Protocol):
    def record(self, name: str, outcome: str, seconds: float) -> None: ...

    def totals(self) -> TaskTotals: ...


def bucket_of(seconds: float) -> int:
    """The index of the first bucket whose upper bound holds `seconds` (Prometheus' `le`)."""
    return bisect_left(BUCKETS, seconds)


class MemoryTaskMetrics:
    """The embedded mode's store: its workers are threads of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = TaskTotals()

    def record(self, name: str, outcome: str, seconds: float) -> None:
        with self._lock:
            totals = self._totals
            totals.counts[name, outcome] = totals.counts.get((name, outcome), 0) + 1
            totals.buckets.setdefault(name, [0] * len(BUCKETS))[bucket_of(seconds)] += 1
            totals.seconds[name] = totals.seconds.get(name, 0.0) + seconds

    def totals(self) -> TaskTotals:
        with self._lock:
            totals = self._totals
            return TaskTotals(dict(totals.counts), {k: list(v) for k, v in totals.buckets.items()},
                              dict(totals.seconds))


class RedisTaskMetrics:
    """Two hashes every worker adds to: COUNTS_KEY `name|outcome` → ends, DURATIONS_KEY `name|le` → runs
    and `name|sum` → seconds. One MULTI per end, so a scrape never sees a count without its duration."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def record(self, name: str, outcome: str, seconds: float) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hincrby(COUNTS_KEY, f"{name}|{outcome}", 1)
            pipe.hincrby(DURATIONS_KEY, f"{name}|{floatToGoString(BUCKETS[bucket_of(seconds)])}", 1)
            pipe.hincrbyfloat(DURATIONS_KEY, f"{name}|sum", seconds)
            pipe.execute()

    def totals(self) -> TaskTotals:
        with self.client.pipeline(transaction=True) as pipe:
            counts, durations = pipe.hgetall(COUNTS_KEY).hgetall(DURATIONS_KEY).execute()
        totals = TaskTotals()
        for key, value in counts.items():
            name, _, outcome = key.decode().rpartition("|")
            totals.counts[name, outcome] = float(value)
        bounds = {floatToGoString(bound): index for index, bound in enumerate(BUCKETS)}
        for key, value in durations.items():
            name, _, part = key.decode().rpartition("|")
            if part == "sum":
                totals.seconds[name] = float(value)
            elif part in bounds:
                totals.buckets.setdefault(name, [0] * len(BUCKETS))[bounds[part]] = float(value)
        return totals


def task_metrics_for(client: redis.Redis | None) -> TaskMetrics:
    return RedisTaskMetrics(client) if client is not None else MemoryTaskMetrics()


def task_label(name: str | None) -> str:
    return name if name in KNOWN_TASKS else "other"


# -- the worker side: Celery's signals, in whichever process runs the task -------------------------------

_started: dict[str, float] = {}  # task id → monotonic start, in the process that runs it


def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.monotonic()


def _task_ended(sender: Any = None, task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    began = _started.pop(task_id, None) if task_id is not None else None
    services = getattr(getattr(sender, "app", None), "services", None)
    if began is None or services is None:
        return  # not one of our apps' tasks (its app has no services), or no start seen
    try:
        services.task_metrics.record(task_label(getattr(sender, "name", None)), OUTCOMES.get(state or "", "other"),
                                     time.monotonic() - began)
    except redis.RedisError as error:  # the task's own work is done; a lost count must not fail it
        log.warning("metrics.task_not_recorded", extra={"task": getattr(sender, "name", None),
                                                        "error": type(error).__name__})


def connect_task_signals() -> None:
    """Count every task's end in this process (once, whatever the number of Celery apps)."""
    task_prerun.connect(_task_started, weak=False, dispatch_uid="qb24.task_metrics.started")
    task_postrun.connect(_task_ended, weak=False, dispatch_uid="qb24.task_metrics.ended")


# -- the scrape side: /metrics ---------------------------------------------------------------------------

def redis_lists(queue: str) -> list[str]:
    """The Redis lists kombu keeps a queue's messages in: one per priority step, the lowest under the
    queue's own name (kombu/transport/redis.py Channel._q_for_pri: `{queue}{sep}{priority}`)."""
    return [queue] + [f"{queue}{RedisChannel.sep}{step}" for step in PRIORITY_STEPS if step]


def queue_depths(services: Services) -> dict[str, int]:
    """Messages waiting in each queue (taken ones are not counted), read from the broker."""
    if services.redis is not None:
        with services.redis.pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                for name in redis_lists(queue):
                    pipe.llen(name)
            lengths = iter(pipe.execute())
        return {queue: sum(next(lengths) for _ in redis_lists(queue)) for queue in QUEUES}
    celery = services.celery  # embedded: kombu's in-memory queues, named with the app's suffix
    depths = {}
    with celery.connection_for_read() as connection:
        channel = connection.default_channel
        for queue in QUEUES:
            try:
                depths[queue] = channel.queue_declare(queue=queue + celery.queue_suffix, passive=True).message_count
            except ChannelError:  # not declared yet: no worker and nothing sent
                depths[queue] = 0
    return depths


class TaskCollector(Collector):
    """qb24_tasks_total, qb24_task_duration_seconds and qb24_queue_depth, read at scrape time."""

    def __init__(self, services: Services, errors: PromCounter) -> None:
        self.services, self.errors = services, errors

    def describe(self) -> list:
        return []  # registering must not reach the broker

    def collect(self) -> Iterator[Any]:
        try:
            totals, depths = self.services.task_metrics.totals(), queue_depths(self.services)
        except redis.RedisError as error:  # a scrape answers without these families rather than a 500
            log.warning("metrics.broker_unavailable", extra={"error": type(error).__name__})
            self.errors.labels(kind="metrics_broker").inc()
            return
        yield _tasks(totals)
        yield _durations(totals)
        depth = GaugeMetricFamily("qb24_queue_depth", "Celery messages waiting in each queue", labels=["queue"])
        for queue, count in depths.items():
            depth.add_metric([queue], count)
        yield depth


def _tasks(totals: TaskTotals) -> CounterMetricFamily:
    tasks = CounterMetricFamily("qb24_tasks", "Celery task runs by task and outcome (success, failure, retry, "
                                "ignored, rejected)", labels=["name", "outcome"])
    for (name, outcome), count in sorted(totals.counts.items()):
        tasks.add_metric([name, outcome], count)
    return tasks


def _durations(totals: TaskTotals) -> HistogramMetricFamily:
    durations = HistogramMetricFamily("qb24_task_duration_seconds", "Time a Celery task run took, by task",
                                      labels=["name"])
    for name, runs in sorted(totals.buckets.items()):
        cumulative = [sum(runs[:index + 1]) for index in range(len(BUCKETS))]
        durations.add_metric([name], [(floatToGoString(bound), count) for bound, count in zip(BUCKETS, cumulative)],
                             sum_value=totals.seconds.get(name, 0.0))
    return durations
