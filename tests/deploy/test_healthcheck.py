"""`qb24 healthcheck web|worker`: healthy against the real process compose runs, unhealthy otherwise
(beat's check runs in test_beat_unprivileged.py against a beat started as compose starts it)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from config.settings import load_settings
from qb24.healthcheck import Unhealthy, check
from sandbox.server import serve_in_thread
from store.db import migrate
from tests.config.test_settings import VALID
from tests.deploy.deploy_support import ROOT, service
from tests.services import WORKER_PROCESS_REDIS_URL, redis_client
from tests.support import wait_for
from webhooks import create_app


def _served(settings):
    server = serve_in_thread(create_app(settings))
    return server, f"{server.url}/healthz"


def test_web_is_healthy_when_healthz_answers_200(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'web.db'}"
    migrate(database_url)
    server, url = _served(load_settings({**VALID, "DATABASE_URL": database_url}))
    try:
        assert check("web", url=url) == f"web: {url} answered 200"
    finally:
        server.stop()


def test_web_is_unhealthy_with_the_failing_dependency_named(tmp_path):
    settings = load_settings({**VALID, "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
                              "REDIS_URL": "redis://127.0.0.1:1/0"})  # nothing listens there
    server, url = _served(settings)
    try:
        with pytest.raises(Unhealthy, match=r'answered 503: .*"redis": false'):
            check("web", url=url)
    finally:
        server.stop()
    with pytest.raises(Unhealthy, match="did not answer"):  # the server is gone
        check("web", url=url, timeout=2)


@pytest.fixture
def worker_env(tmp_path, monkeypatch):
    """The environment of compose's worker, on the test's Redis database for worker processes; this
    process's too, for the checks made in it."""
    redis_client()  # skips (or fails in CI) when Redis is not there
    redis.Redis.from_url(WORKER_PROCESS_REDIS_URL).delete("celery", "realtime", "bulk")
    env = {**VALID, "REDIS_URL": WORKER_PROCESS_REDIS_URL, "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}


def test_a_worker_is_healthy_while_its_own_node_answers(worker_env, tmp_path):
    spec = service("worker")
    test = spec["healthcheck"]["test"][1:]  # ["qb24", "healthcheck", "worker", "--node", "realtime@%h"]
    log = tmp_path / "worker.log"
    # compose's command, with one pool process instead of four (two cores are shared here)
    with log.open("w") as output:
        worker = subprocess.Popen([*spec["command"], "--concurrency=1"], env=worker_env, cwd=tmp_path, stdout=output,
                                  stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: " ready." in log.read_text() or worker.poll() is not None, "the worker to start",
                     timeout=25, poll=0.2)
            assert worker.poll() is None, log.read_text()[-2000:]
            healthy = subprocess.run(test, env=worker_env, capture_output=True, text=True, timeout=30, check=False)
            assert healthy.returncode == 0 and healthy.stdout.strip().endswith(": pong"), healthy.stderr
            with pytest.raises(Unhealthy, match="no answer"):  # another node of this host is not running
                check("worker", node="bulk@%h", timeout=1)
        finally:
            worker.terminate()
            worker.wait(timeout=20)
    with pytest.raises(Unhealthy, match=r"realtime@.*no answer"):
        check("worker", node=test[-1], timeout=1)


def test_a_worker_check_without_a_broker_says_so(monkeypatch):
    for name, value in VALID.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(Unhealthy, match="REDIS_URL is not set"):
        check("worker", node="realtime@%h")
