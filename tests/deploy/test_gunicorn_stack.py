"""Issue 12, done means: gunicorn run with 3 workers exactly as docker-compose.yml's web service runs it, on
PostgreSQL and Redis, beside a real `celery worker` process run as its worker service is.

/metrics counts every request in every scrape (prometheus_client's multiprocess mode sums the workers'
files, whichever worker answers), Celery's task counts, durations and queue depths show there too (Redis
hashes and lists, read at scrape time); gunicorn writes one access line per request, without its query; an
unexpected error (a table gone from under a route and a task) is logged once, with its traceback, by
gunicorn's side and by Celery's, and no secret is in the logs.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import redis
import requests
import yaml
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete

from config.settings import load_settings
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory, transaction
from store.models import Portal, QboConnection
from store.portals import ensure_portal
from tests.services import POSTGRES_URL, WORKER_PROCESS_REDIS_URL, postgres_schema, redis_client
from tests.support import wait_for
from workers.celery_app import BULK_QUEUE, DEFAULT_QUEUE, FULL_SYNC, PULL_CHANGES, RECONCILE_ALL, make_celery

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
BURST_AGENT = "qb24-gunicorn-stack-test"  # the access lines of this test's burst are told apart by it
FAKE_TOKEN = "FakeT0ken" + secrets.token_hex(8)  # sent in queries: must reach no log
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" (?P<status>\d{3}) \S+ '
                         r'"(?P<agent>[^"]*)" (?P<ms>\d+)ms$')
BROKEN = "sqlalchemy.exc.ProgrammingError: (psycopg.errors.UndefinedTable)"  # a traceback's last line


@dataclass
class Process:
    """A server process whose merged stdout and stderr a thread collects, line by line."""

    popen: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.popen.stdout), daemon=True)
        self.reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        self.popen.terminate()
        self.popen.wait(30)
        self.reader.join(10)


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    schema: str
    gunicorn: Process
    metrics_dir: Path


def _start(command: list[str], env: dict[str, str]) -> Process:
    return Process(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(database_url: str, port: int, tmp: Path) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    return {**env, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp),  # gunicorn's metrics directory lands here
            "APP_BASE_URL": base, "DATABASE_URL": database_url, "REDIS_URL": WORKER_PROCESS_REDIS_URL,
            "SECRET_KEY": secrets.token_urlsafe(32), "TOKEN_ENCRYPTION_KEY": TokenCipher.generate_key(),
            "QBO_CLIENT_ID": "stack-client", "QBO_CLIENT_SECRET": secrets.token_urlsafe(16),
            "QBO_REDIRECT_URI": base + "/quickbooks/callback", "QBO_ENVIRONMENT": "sandbox",
            "QBO_VERIFIER_TOKEN": secrets.token_urlsafe(16), "B24_CLIENT_ID": "local.stack.1",
            "B24_CLIENT_SECRET": secrets.token_urlsafe(16), "METRICS_TOKEN": secrets.token_urlsafe(24)}


def _command(service: str) -> list[str]:
    """The compose service's command, run by this interpreter (`gunicorn …` → `python -m gunicorn …`)."""
    command = COMPOSE["services"][service]["command"]
    return [sys.executable, "-m", *command]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    redis_client().close()  # skips (or fails, in CI) without Redis
    redis.Redis.from_url(WORKER_PROCESS_REDIS_URL).flushdb()  # this test's own database: counts start at 0
    tmp = tmp_path_factory.mktemp("gunicorn")
    with postgres_schema() as url:
        port = _free_port()
        env = _environment(url, port, tmp)
        migrate = COMPOSE["services"]["migrate"]["command"]
        assert migrate == ["qb24", "migrate"]
        subprocess.run([sys.executable, "-m", "qb24", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
        # the web service's command; only the address differs (the compose port is this host's 8000)
        gunicorn = _start([*_command("web"), "--bind", f"127.0.0.1:{port}"], env)
        try:
            wait_for(lambda: gunicorn.output.count("Booting worker with pid") == 3 and _up(port),
                     "gunicorn's three workers", 60, poll=0.2)
            metrics_dir = next(tmp.glob("qb24-metrics-*"))  # config/gunicorn.py's default directory
            yield Stack(f"http://127.0.0.1:{port}", env, re.search(r"search_path%3D(\w+)", url).group(1),
                        gunicorn, metrics_dir)
        finally:
            gunicorn.stop()
    assert not metrics_dir.exists()  # the master removes the directory it made


def _up(port: int) -> bool:
    # Once the master listens, a request waits in the socket's backlog until a worker has imported the app.
    # Given up on sooner, it would still be answered, and counted, later: after the burst's first scrape.
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).status_code == 200
    except requests.RequestException:  # not listening yet, or its workers still importing the app
        return False


def scrape(stack: Stack, **headers: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of one scrape."""
    response = requests.get(stack.url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text[:500]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def answered(samples: dict[tuple, float], *, scrapes: bool = False) -> float:
    """HTTP requests counted: those to /metrics (`scrapes`) or all others."""
    return sum(value for (name, labels), value in samples.items()
               if name == "qb24_http_requests_total" and (dict(labels)["endpoint"] == "/metrics") == scrapes)


def _signed(stack: Stack, body: bytes) -> dict[str, str]:
    """Intuit's webhook signature (reference quickbooks-online.md §1.3)."""
    digest = hmac.new(stack.env["QBO_VERIFIER_TOKEN"].encode(), body, hashlib.sha256).digest()
    return {"intuit-signature": base64.b64encode(digest).decode(), "Content-Type": "application/json"}


def _burst(stack: Stack) -> list[tuple[str, str, int]]:
    """Forty requests of several kinds, eight at a time; (method, path, status) of each."""
    sent = [("GET", "/healthz", {}, 200)] * 10
    sent += [("GET", f"/no-such-page-{n}", {"params": {"token": FAKE_TOKEN}}, 404) for n in range(10)]
    sent += [("GET", "/quickbooks/callback", {"params": {"code": FAKE_TOKEN, "state": FAKE_TOKEN}}, 400)] * 10
    sent += [("POST", "/webhooks/quickbooks", {"data": b"[]", "headers": {"intuit-signature": "forged"}}, 401)] * 10

    def send(request: tuple) -> tuple[str, str, int]:
        method, path, options, _ = request
        headers = {"User-Agent": BURST_AGENT, **options.pop("headers", {})}
        response = requests.request(method, stack.url + path, headers=headers, timeout=10, **options)
        return method, path, response.status_code

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(send, [(m, p, dict(o), s) for m, p, o, s in sent]))
    assert [status for *_, status in done] == [status for *_, status in sent]
    return done


@pytest.fixture(scope="module")
def burst(stack: Stack) -> tuple[dict, list]:
    """The burst's requests, and a scrape taken before them."""
    before = scrape(stack)
    return before, _burst(stack)


@contextmanager
def connected_realm(stack: Stack, realm_id: str) -> Iterator[None]:
    """A portal connected to a QuickBooks company whose changes were applied up to a minute ago; gone after
    (the reconciliation tasks of the Celery test below would otherwise pull its changes from Intuit)."""
    engine = make_engine(stack.env["DATABASE_URL"])
    try:
        with transaction(make_session_factory(engine)) as session:
            portal = ensure_portal(session, member_id="m-lag", domain="lag.example", client_endpoint="https://x/rest/",
                                   server_endpoint="https://o/rest/")
            session.flush()
            minute_ago = datetime.now(timezone.utc) - timedelta(minutes=1)
            session.add(QboConnection(portal_id=portal.id, realm_id=realm_id, cdc_watermark=minute_ago.isoformat()))
        yield
    finally:
        with transaction(make_session_factory(engine)) as session:
            session.execute(delete(Portal).where(Portal.member_id == "m-lag"))  # its connection goes with it
        engine.dispose()


def test_every_scrape_counts_every_request_whichever_worker_answered_it(stack, burst):
    before, sent = burst
    with connected_realm(stack, "9130000000000001"):
        text = requests.get(stack.url + "/metrics", timeout=10).text
    # the store's families once per scrape, not once per worker; the workers' counters merged into one family
    assert text.count('qb24_qbo_lag_seconds{realm_id="9130000000000001"}') == 1
    lag = float(re.search(r'qb24_qbo_lag_seconds\{realm_id="9130000000000001"\} (\S+)', text).group(1))
    assert 60 <= lag < 120  # seconds since the realm's change watermark
    assert text.count("# TYPE qb24_qbo_lag_seconds gauge") == 1 and text.count("# TYPE qb24_http_requests_total") == 1
    for n in range(2, 7):  # each scrape lands on any of the three workers
        seen = scrape(stack)
        assert answered(seen) - answered(before) == len(sent)
        assert answered(seen, scrapes=True) - answered(before, scrapes=True) == n  # each earlier scrape, once
        timed = sum(v for (name, _), v in seen.items() if name == "qb24_http_request_duration_seconds_count")
        assert timed == answered(seen) + answered(seen, scrapes=True)
    # Each worker wrote its own share and the scrape is their sum. Which worker accepts a connection is the
    # kernel's choice: a busy machine can hand a whole burst to one. Bursts go on (bounded) until a second
    # worker has answered some, since only then does a sum prove anything.
    for _ in range(5):
        if len([share for share in _shares(stack).values() if share]) > 1:
            break
        sent = sent + _burst(stack)
    seen = scrape(stack)
    assert answered(seen) - answered(before) == len(sent)
    shares = _shares(stack)
    assert sum(shares.values()) == answered(seen)
    assert len([share for share in shares.values() if share]) > 1, shares


def _shares(stack: Stack) -> dict[str, float]:
    """Requests answered per worker, read from each worker's own counter file."""
    return {path.name: answered({(s.name, tuple(sorted(s.labels.items()))): s.value
                                 for family in MultiProcessCollector.merge([str(path)]) for s in family.samples})
            for path in stack.metrics_dir.glob("counter_*.db")}


def test_one_access_line_per_request_with_its_path_status_and_duration_and_no_query(stack, burst):
    _, sent = burst

    def logged() -> Counter:
        return Counter((m["method"], m["path"], int(m["status"])) for line in stack.gunicorn.lines
                       if (m := ACCESS_LINE.search(line.rstrip())) and m["agent"] == BURST_AGENT)

    wait_for(lambda: logged() == Counter(sent), "an access line for each request of the burst", 10)
    assert FAKE_TOKEN not in stack.gunicorn.output


def test_metrics_through_the_proxy_needs_the_token(stack):
    token = stack.env["METRICS_TOKEN"]
    get = lambda **headers: requests.get(stack.url + "/metrics", headers=headers, timeout=10)  # noqa: E731
    assert get(**{"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    assert get(Forwarded="for=203.0.113.7").status_code == 404
    assert get(**{"X-Forwarded-For": "203.0.113.7", "Authorization": "Bearer wrong"}).status_code == 404
    through = get(**{"X-Forwarded-For": "203.0.113.7", "Authorization": f"Bearer {token}"})
    assert through.status_code == 200 and "qb24_http_requests_total" in through.text
    assert get().status_code == 200  # from this host, not through the proxy


@contextmanager
def table_missing(stack: Stack, table: str) -> Iterator[None]:
    """The table renamed away under the running processes (a database out of step with the code), then back."""
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'ALTER TABLE "{stack.schema}".{table} RENAME TO {table}_gone')
        try:
            yield
        finally:
            admin.execute(f'ALTER TABLE "{stack.schema}".{table}_gone RENAME TO {table}')


def _secrets(stack: Stack) -> list[str]:
    names = ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "QBO_CLIENT_SECRET", "QBO_VERIFIER_TOKEN", "B24_CLIENT_SECRET",
             "METRICS_TOKEN")
    return [stack.env[name] for name in names] + [FAKE_TOKEN]


def test_an_unexpected_error_is_logged_once_with_its_traceback(stack):
    note = {"eventNotifications": [{"realmId": "9130347596326316", "dataChangeEvent": {"entities": [
        {"name": "Invoice", "id": "130", "operation": "Create", "lastUpdated": "2026-01-05T14:42:19-0700"}]}}]}
    body = json.dumps(note).encode()
    with table_missing(stack, "qbo_connections"):  # the webhook looks the realm's portal up there
        answer = requests.post(stack.url + "/webhooks/quickbooks", params={"token": FAKE_TOKEN}, data=body,
                               headers=_signed(stack, body), timeout=10)
    assert answer.status_code == 500 and "unexpected error" in answer.text
    wait_for(lambda: BROKEN in stack.gunicorn.output, "the error's traceback in the logs", 10)
    output = stack.gunicorn.output
    assert output.count(BROKEN) == 1 and output.count("web.unexpected") == 1, output[-4000:]
    assert "Traceback (most recent call last)" in output and "in notification" in output  # the route's frame
    assert "Error handling request" not in output  # gunicorn's own report of an app error: not a second time
    assert not [secret for secret in _secrets(stack) if secret in output]
    assert scrape(stack)[("qb24_errors_total", (("kind", "unexpected"),))] == 1


def _tasks(samples: dict[tuple, float], name: str, outcome: str) -> float:
    return samples.get(("qb24_tasks_total", (("name", name), ("outcome", outcome))), 0.0)


def _depth(samples: dict[tuple, float], queue: str) -> float:
    return samples[("qb24_queue_depth", (("queue", queue),))]


def test_celery_tasks_durations_and_queue_depths_show_on_metrics(stack):
    env = stack.env
    celery = make_celery(load_settings(env))
    for priority in (None, None, 5):  # kombu keeps a message with a priority in a list of its own
        celery.send_task(RECONCILE_ALL, priority=priority)
    celery.send_task(FULL_SYNC, args=(999999,))  # the bulk queue: the worker started below does not consume it
    seen = scrape(stack)
    assert (_depth(seen, DEFAULT_QUEUE), _depth(seen, BULK_QUEUE), _depth(seen, "realtime")) == (3, 1, 0)
    # the worker service's command (prefork, as deployed), one child and no cluster chatter: a quick start
    worker = _start([*_command("worker"), "--concurrency=1", "--without-heartbeat", "--without-mingle",
                     "--without-gossip"], env)
    try:
        wait_for(lambda: _tasks(scrape(stack), RECONCILE_ALL, "success") == 3, "three reconciliations counted", 40,
                 poll=0.25)
        with table_missing(stack, "qbo_connections"):  # the pull reads the realm's connection there
            celery.send_task(PULL_CHANGES, args=("9130347596326316",))
            wait_for(lambda: _tasks(scrape(stack), PULL_CHANGES, "failure") == 1, "the failed pull counted", 20,
                     poll=0.25)
    finally:
        worker.stop()
    seen = scrape(stack)
    assert (_depth(seen, DEFAULT_QUEUE), _depth(seen, BULK_QUEUE)) == (0, 1)
    durations = {labels: value for (name, labels), value in seen.items() if name.startswith("qb24_task_duration")}
    runs = durations[(("le", "+Inf"), ("name", RECONCILE_ALL))]
    assert runs == 3 == seen[("qb24_task_duration_seconds_count", (("name", RECONCILE_ALL),))]
    assert 0 < seen[("qb24_task_duration_seconds_sum", (("name", RECONCILE_ALL),))] < 30
    # Celery reports the task's failure, with its traceback, once; our code adds no second report
    output = worker.output
    assert output.count(BROKEN) == 1 and output.count("raised unexpected") == 1, output[-4000:]
    assert not [secret for secret in _secrets(stack) if secret in output]
    celery.control.purge()
    celery.close()
