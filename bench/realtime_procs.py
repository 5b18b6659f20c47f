"""The processes a production-like real-time run needs: a Redis of its own and `celery worker`s.

A Redis server started here (not the shared one) can be restarted mid-run without touching anyone
else's data; `--save '' --appendonly no` makes a restart lose everything it held, as a crashed Redis
without persistence does. Workers are real `celery -A workers.celery_app worker` processes on the
solo pool, so the process that runs a task is the one a SIGKILL hits.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis

from config.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
# Celery's INFO lines: "Task qb24.pull_changes[<id>] received" / "... succeeded in" / "... retry:" / "... raised".
_TASK_LINE = re.compile(r"Task (qb24\.[\w.]+)\[([0-9a-f-]+)\] (received|succeeded|retry|raised|failed)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """`redis-server` on a free loopback port, without persistence; restartable on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
            finally:
                client.close()

    def restart(self) -> None:
        """Kill it (SIGKILL: nothing flushed, nothing kept) and start an empty one on the same port."""
        self.stop(signal.SIGKILL)
        self.start()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        self.process = None


class CeleryWorker:
    """One `celery worker` process (solo pool) on the given queues; its log lines are kept."""

    READY = " ready."

    def __init__(self, env: dict[str, str], queues: str, name: str) -> None:
        self._start(env, name, ["worker", "--pool", "solo", "-Q", queues, "-n", f"{name}@%h", "--without-heartbeat",
                                "--without-mingle", "--without-gossip"])

    def _start(self, env: dict[str, str], name: str, arguments: list[str]) -> None:
        command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", *arguments, "--loglevel", "INFO"]
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        self.name = name
        self.lines: list[str] = []
        self.open_tasks: dict[str, str] = {}  # task id -> task name, received and not yet over
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": path},
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True, name=f"log-{name}")
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)
            found = _TASK_LINE.search(line)
            if found:
                task, task_id, what = found.groups()
                if what == "received":
                    self.open_tasks[task_id] = task
                else:
                    self.open_tasks.pop(task_id, None)

    def wait_ready(self, timeout: float = 30.0) -> CeleryWorker:
        deadline = time.monotonic() + timeout
        while not any(self.READY in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start:\n{self.output()[-3000:]}")
            time.sleep(0.05)
        return self

    def running(self, task: str) -> bool:
        """Whether it received a task of that name and has not finished it (it may be in a countdown)."""
        return task in self.open_tasks.values()

    def kill(self) -> None:
        """SIGKILL: no ack, no cleanup, no lease released."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(5)

    def output(self) -> str:
        return "".join(self.lines)


class CeleryBeat(CeleryWorker):
    """`celery beat` (docker-compose's one beat): the app's schedule, its file in a temporary directory."""

    READY = "beat: Starting"

    def __init__(self, env: dict[str, str], name: str, schedule_file: str) -> None:
        self._start(env, name, ["beat", "--schedule", schedule_file])


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that `load_settings` reads back into these settings (for a worker process)."""
    env = {name.upper(): value for name, value in vars(settings).items() if isinstance(value, str)}
    env["B24_OAUTH_SERVERS"] = ",".join(settings.b24_oauth_servers)
    env["B24_UNINSTALL_RETRY_S"] = str(settings.b24_uninstall_retry_s)
    return env


@contextmanager
def scratch_schema(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards; yields a SQLAlchemy URL whose search_path is it."""
    schema = "qb24_bench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(postgres_url, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            base = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
