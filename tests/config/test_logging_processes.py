"""Issue 12: the app's events reach the logs at INFO with their context under the real processes,
started as docker-compose.yml starts them: a `celery worker` on Redis and gunicorn, in text and in
JSON lines (LOG_FORMAT=json: then every line either writes is one JSON object)."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable

import pytest
import requests

from config.settings import load_settings
from tests.config.test_access_log import CODE, ROOT, STATE, _environment, _free_port
from tests.services import WORKER_PROCESS_REDIS_URL, redis_client
from workers.celery_app import EXPORT_RECORDS, make_celery

DEADLINE_S = 90


class Output:
    """A process's stdout and stderr, read as they come."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process, self.out, self.err = process, [], []
        self.readers = [threading.Thread(target=lambda: self.out.extend(process.stdout), daemon=True),
                        threading.Thread(target=lambda: self.err.extend(process.stderr), daemon=True)]
        for reader in self.readers:
            reader.start()

    def wait_for(self, found: Callable[[str], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not any(found(line) for line in self.out + self.err):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no {what} in the output:\n" + "".join(self.out + self.err)[-3000:])
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        for reader in self.readers:
            reader.join(10)


def _start(command: list[str], env: dict[str, str]) -> Output:
    return Output(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True))


def _json_lines(lines: list[str]) -> list[dict]:
    """Every line parsed (a line that is not one JSON object fails the test, naming it)."""
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return records


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_celery_worker_logs_the_apps_events_and_its_own_task_lines(tmp_path, log_format):
    redis_client().close()  # skips (or fails in CI) without Redis
    port = _free_port()
    env = {**_environment(tmp_path, port), "REDIS_URL": WORKER_PROCESS_REDIS_URL, "LOG_FORMAT": log_format}
    env.pop("LOG_LEVEL", None)  # the worker's --loglevel=INFO decides, as in docker-compose.yml
    # Celery warns a worker run as root before it sets logging up, in plain text; the image runs it unprivileged.
    env["PYTHONWARNINGS"] = "ignore:You're running the worker with superuser privileges:UserWarning"
    subprocess.run([sys.executable, "-m", "qb24", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    queue = "logging-" + uuid.uuid4().hex[:8]  # a queue of its own: no other test's task reaches this worker
    worker = _start([sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "-Q", queue,
                     "--loglevel=INFO", "--concurrency=1", "--without-heartbeat", "--without-mingle",
                     "--without-gossip", f"--hostname=logging-{queue}@%h"], env)
    try:
        worker.wait_for(lambda line: "ready" in line, "worker ready line")
        celery = make_celery(load_settings(env))
        # An export for a portal the store does not hold: the task finds nothing and logs export.idle.
        celery.send_task(EXPORT_RECORDS, args=(424242,), queue=queue)
        worker.wait_for(lambda line: "succeeded" in line, "Celery's task succeeded line")
    finally:
        worker.stop()
    if log_format == "json":
        records = _json_lines(worker.err)  # the banner goes to stdout; every log line to stderr
        (event,) = [r for r in records if r["message"] == "export.idle"]
        assert (event["level"], event["portal_id"], event["task"]) == ("INFO", 424242, EXPORT_RECORDS)
        assert event["task_id"] and event["logger"] == "qb24.exports"
        celery_lines = [r["message"] for r in records if r["logger"].startswith("celery")]
        assert any(f"Task {EXPORT_RECORDS}[" in m and "received" in m for m in celery_lines), celery_lines
    else:
        (event,) = [line for line in worker.err if " export.idle " in line]
        assert " INFO qb24.exports export.idle portal_id=424242 task=qb24.export_records task_id=" in event
        assert any(f"Task {EXPORT_RECORDS}[" in line and "received" in line for line in worker.err)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_gunicorn_logs_access_lines_and_the_apps_events(tmp_path, log_format):
    """docker-compose.yml's web command (one worker here): the refused callback is one access line on
    stdout without its query and a web.refused event with its path and status; nothing of the code
    or state anywhere."""
    port = _free_port()
    env = {**_environment(tmp_path, port), "LOG_FORMAT": log_format}
    subprocess.run([sys.executable, "-m", "qb24", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    web = _start([sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", "--bind", f"127.0.0.1:{port}",
                  "--workers", "1", "webhooks:create_app()"], env)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or its worker importing
                assert time.monotonic() < deadline and web.process.poll() is None, "".join(web.err)[-3000:]
                time.sleep(0.2)
        answer = requests.get(f"http://127.0.0.1:{port}/quickbooks/callback",
                              params={"code": CODE, "state": STATE, "realmId": "9130347596326316"}, timeout=10)
        assert answer.status_code == 400
        web.wait_for(lambda line: "/quickbooks/callback" in line and "400" in line, "access line")
    finally:
        web.stop()
    output = "".join(web.out + web.err)
    assert CODE not in output and STATE not in output
    access = [line for line in web.out if "/quickbooks/callback" in line]
    assert len(access) == 1, web.out
    if log_format == "json":
        (line,) = [r for r in _json_lines(web.out) if r.get("path") == "/quickbooks/callback"]
        assert (line["method"], line["status"], line["logger"]) == ("GET", 400, "gunicorn.access")
        assert isinstance(line["duration_ms"], int)
        errors = _json_lines(web.err)
        (refused,) = [r for r in errors if r["message"] == "web.refused"]
        assert (refused["level"], refused["path"], refused["status"]) == ("INFO", "/quickbooks/callback", 400)
        assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in errors)
    else:
        assert '"GET /quickbooks/callback HTTP/1.1" 400 ' in access[0]
        (refused,) = [line for line in web.err if " web.refused " in line]
        assert " INFO qb24.web.errors web.refused path=/quickbooks/callback status=400 " in refused
