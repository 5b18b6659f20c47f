"""Issue 8 item 8: the OAuth `code` and `state` (query of GET /quickbooks/callback, reference
quickbooks-online.md §7) never reach the access log of either real server: gunicorn run with the
production config (docker-compose.yml, Dockerfile) and werkzeug's development server (`qb24 web`).
Both are started as the deployment starts them, in a subprocess, and their output is read."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from config.logging import QueryRedactingFilter, strip_query

ROOT = Path(__file__).resolve().parents[2]
CODE, STATE = "AB11585591520ea2OuGIUkSecretCode", "SecretState0123456789abcdefghijklmnopq"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(tmp_path: Path, port: int) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    return {**os.environ, "PYTHONPATH": str(ROOT), "APP_BASE_URL": base,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'access.db'}",
            "SECRET_KEY": "session-signing-key-0123456789abcdef",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(), "QBO_CLIENT_ID": "q",
            "QBO_CLIENT_SECRET": "qs", "QBO_REDIRECT_URI": base + "/quickbooks/callback",
            "QBO_ENVIRONMENT": "sandbox", "QBO_VERIFIER_TOKEN": "v", "B24_CLIENT_ID": "local.x.1",
            "B24_CLIENT_SECRET": "bs", "REDIS_URL": ""}


def _serve(command: list[str], env: dict[str, str], port: int) -> str:
    """Run the server, request the callback with a code and state, stop it, yield its output."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or its worker still importing
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("the server did not start") from None
                time.sleep(0.1)
        answer = requests.get(f"http://127.0.0.1:{port}/quickbooks/callback",
                              params={"code": CODE, "state": STATE, "realmId": "9130347596326316"}, timeout=10)
        assert answer.status_code == 400  # no consent was started in this browser
        time.sleep(0.5)  # the access line is written after the answer; then stop the server
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    return output


def _check(output: str) -> None:
    lines = [line for line in output.splitlines() if "/quickbooks/callback" in line]
    assert lines, output[-2000:]  # the request is logged, by its path
    assert CODE not in output and STATE not in output, lines


@pytest.mark.parametrize("server", ["gunicorn", "qb24 web"])
def test_the_callback_query_is_not_in_the_access_log(tmp_path, server):
    port = _free_port()
    env = _environment(tmp_path, port)
    subprocess.run([sys.executable, "-m", "qb24", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    if server == "gunicorn":  # exactly docker-compose.yml's web command, on another port, one worker
        command = [sys.executable, "-m", "gunicorn", "-c", "python:config.gunicorn", "--bind",
                   f"127.0.0.1:{port}", "--workers", "1", "webhooks:create_app()"]
    else:
        command = [sys.executable, "-m", "qb24", "web", "--port", str(port)]
    _check(_serve(command, env, port))


def test_the_filter_cuts_queries_from_gunicorn_atoms_and_werkzeug_lines():
    """An operator's own --access-logformat with %(r)s, %(q)s or the Referer stays safe too."""
    import logging

    atoms = {"r": f"GET /quickbooks/callback?code={CODE} HTTP/1.1", "q": f"code={CODE}", "s": "400",
             "f": f"https://appcenter.intuit.com/connect?state={STATE}", "{raw_uri}e": f"/x?state={STATE}"}
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '"%(r)s" %(q)s %(f)s %({raw_uri}e)s',
                               (atoms,), None)
    QueryRedactingFilter().filter(record)
    assert record.getMessage() == '"GET /quickbooks/callback HTTP/1.1" - https://appcenter.intuit.com/connect /x'
    assert strip_query(f'"\x1b[31mGET /quickbooks/callback?code={CODE} HTTP/1.1\x1b[0m" 400 -') == \
        '"\x1b[31mGET /quickbooks/callback HTTP/1.1\x1b[0m" 400 -'


def test_the_filter_redacts_what_the_format_prints_whatever_the_header_case():
    """Only the printed atoms are redacted (gunicorn passes ~70 per line); `{Referer}i` is looked up lowercased."""
    import logging

    from gunicorn.glogging import SafeAtoms

    atoms = SafeAtoms({"{referer}i": f"https://intuit.example/cb?state={STATE}", "{raw_uri}e": f"/x?code={CODE}",
                       "U": "/quickbooks/callback"})
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(U)s %({Referer}i)s", (atoms,), None)
    QueryRedactingFilter().filter(record)
    assert record.getMessage() == "/quickbooks/callback https://intuit.example/cb"
    assert dict.__getitem__(record.args, "{raw_uri}e") == f"/x?code={CODE}"  # not printed: not worked on
