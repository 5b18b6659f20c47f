"""Issue 12 item 4: `qb24 --log-level` validated, `qb24 migrate` with DATABASE_URL alone and without a
traceback, and `.env` read by every entry point (the qb24 CLI, create_app, gunicorn's config, the Celery
app) with the process environment winning. Entry points run as the deployment runs them: in a
subprocess whose working directory holds the .env."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from qb24.cli import main
from store.db import alembic_config
from tests.services import postgres_schema

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """A child with a bare environment: PATH, the project on PYTHONPATH, and `env`, nothing inherited."""
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(cwd)}
    return subprocess.run(args, cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=120)


def _qb24(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return _run([PYTHON, "-m", "qb24", *args], cwd, **env)


def _at_head(database_url: str) -> bool:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    finally:
        engine.dispose()


def _assert_one_line_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr + result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ") and all(part in line for part in expected), line
    return line


# --log-level ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["verbose", "warn", "10", ""])
def test_an_unknown_log_level_is_refused_with_the_choices(level):
    result = CliRunner().invoke(main, ["--log-level", level, "migrate"])
    assert result.exit_code == 2
    assert "Invalid value for '--log-level'" in result.output
    assert "'debug', 'info', 'warning', 'error', 'critical'" in result.output.lower()
    assert "newest revision" not in result.output  # the command did not run


def test_log_levels_are_case_insensitive(tmp_path):
    for level in ("error", "Warning", "CRITICAL"):
        result = CliRunner().invoke(main, ["--log-level", level, "migrate"],
                                    env={"DATABASE_URL": f"sqlite:///{tmp_path / 'levels.db'}"})
        assert result.exit_code == 0, result.output
        assert "database is at the newest revision" in result.output


def test_the_log_level_given_is_the_one_logged_at(tmp_path):
    url = f"sqlite:///{tmp_path / 'debug.db'}"
    debug = _qb24(tmp_path, "--log-level", "debug", "migrate", DATABASE_URL=url, QB24_ENV_FILE=os.devnull)
    assert debug.returncode == 0 and " DEBUG alembic" in debug.stderr  # alembic's per-revision lines
    quiet = _qb24(tmp_path, "--log-level", "ERROR", "migrate", DATABASE_URL=url, QB24_ENV_FILE=os.devnull)
    assert quiet.returncode == 0 and quiet.stderr == ""


# qb24 migrate --------------------------------------------------------------------------------------

def test_migrate_needs_only_database_url_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'only.db'}"
    result = _qb24(tmp_path, "migrate", DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "database is at the newest revision\n" and result.stderr == ""
    assert _at_head(url)


@pytest.mark.postgres
def test_migrate_needs_only_database_url_on_postgresql(tmp_path):
    with postgres_schema() as url:
        result = _qb24(tmp_path, "migrate", DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert _at_head(url)


@pytest.mark.postgres
def test_a_failing_migration_is_one_line(tmp_path):
    """A table the first revision creates is already there (a restored dump without alembic_version)."""
    with postgres_schema() as url:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as db:
            db.execute("CREATE TABLE portals (id integer)")
        line = _assert_one_line_error(_qb24(tmp_path, "migrate", DATABASE_URL=url), "migration failed")
        assert "portals" in line and "already exists" in line


@pytest.mark.parametrize("url,expected", [
    ("postgresql://qb24:pw-9Xc41@127.0.0.1:1/qb24", ("migration failed", "127.0.0.1", "port 1")),
    ("postgresql://qb24:pw-9Xc41@:::/qb24", ("DATABASE_URL is not a valid URL",)),
    ("mysql://qb24:pw-9Xc41@db/qb24", ("DATABASE_URL must be a sqlite: or postgresql: URL",)),
    ("sqlite:////proc/no-such-dir/qb24.db", ("migration failed", "/proc/no-such-dir")),
])
def test_migrate_fails_in_one_line_without_a_traceback_or_the_password(tmp_path, url, expected):
    line = _assert_one_line_error(_qb24(tmp_path, "migrate", DATABASE_URL=url), *expected)
    assert "pw-9Xc41" not in line


def test_migrate_with_no_database_url_uses_the_default_sqlite_file(tmp_path):
    result = _qb24(tmp_path, "migrate")  # nothing else is required either
    assert result.returncode == 0, result.stderr
    assert _at_head(f"sqlite:///{tmp_path / 'var' / 'qb24.db'}")


# .env ----------------------------------------------------------------------------------------------

def _settings(base: str, database_url: str) -> dict[str, str]:
    return {"APP_BASE_URL": base, "SECRET_KEY": "Zq8vN2xL5rT0wY7kP4mB1cH6jF9dS3gA-file",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(), "QBO_CLIENT_ID": "q",
            "QBO_CLIENT_SECRET": "qs",
            "QBO_REDIRECT_URI": base + "/quickbooks/callback", "QBO_ENVIRONMENT": "sandbox",
            "QBO_VERIFIER_TOKEN": "v", "B24_CLIENT_ID": "local.env.1", "B24_CLIENT_SECRET": "bs",
            "DATABASE_URL": database_url}


def _write_env(path: Path, values: dict[str, str]) -> Path:
    lines = [f"{name}={value}" for name, value in values.items()]
    path.write_text("\n".join(["# written by the test", *lines, ""]))
    return path


def test_the_cli_reads_dot_env_and_the_environment_wins(tmp_path):
    _write_env(tmp_path / ".env", {"DATABASE_URL": f"sqlite:///{tmp_path / 'from-file.db'}"})
    assert _qb24(tmp_path, "migrate").returncode == 0
    assert _at_head(f"sqlite:///{tmp_path / 'from-file.db'}")
    assert not (tmp_path / "var").exists()  # not the default database: the file's
    result = _qb24(tmp_path, "migrate", DATABASE_URL=f"sqlite:///{tmp_path / 'from-env.db'}")
    assert result.returncode == 0 and _at_head(f"sqlite:///{tmp_path / 'from-env.db'}")
    (tmp_path / "from-file.db").unlink()
    assert _qb24(tmp_path, "migrate", DATABASE_URL="").returncode == 0  # set, even empty, it wins
    assert not (tmp_path / "from-file.db").exists() and _at_head(f"sqlite:///{tmp_path / 'var' / 'qb24.db'}")


def test_qb24_env_file_names_another_file(tmp_path):
    (tmp_path / "conf").mkdir()
    named = _write_env(tmp_path / "conf" / "qb24.env", {"DATABASE_URL": f"sqlite:///{tmp_path / 'named.db'}"})
    _write_env(tmp_path / ".env", {"DATABASE_URL": f"sqlite:///{tmp_path / 'ignored.db'}"})
    assert _qb24(tmp_path, "migrate", QB24_ENV_FILE=str(named)).returncode == 0
    assert _at_head(f"sqlite:///{tmp_path / 'named.db'}") and not (tmp_path / "ignored.db").exists()
    missing = _qb24(tmp_path, "migrate", QB24_ENV_FILE=str(tmp_path / "nowhere.env"))
    _assert_one_line_error(missing, "QB24_ENV_FILE names", "nowhere.env")


def test_create_app_reads_dot_env_and_the_environment_wins(tmp_path):
    _write_env(tmp_path / ".env", _settings("https://from-file.example", f"sqlite:///{tmp_path / 'app.db'}"))
    script = ("from webhooks import create_app; s = create_app().extensions['qb24'].settings; "
              "print(s.app_base_url, s.b24_client_id)")
    result = _run([PYTHON, "-c", script], tmp_path)
    assert result.stdout.split() == ["https://from-file.example", "local.env.1"], result.stderr
    result = _run([PYTHON, "-c", script], tmp_path, B24_CLIENT_ID="local.from-env.2")
    assert result.stdout.split() == ["https://from-file.example", "local.from-env.2"], result.stderr


def test_gunicorns_config_reads_dot_env_for_the_master(tmp_path):
    _write_env(tmp_path / ".env", {"LOG_FORMAT": "json", "PROXY_HOPS": "2"})
    script = "import os, config.gunicorn; print(os.environ['LOG_FORMAT'], os.environ['PROXY_HOPS'])"
    result = _run([PYTHON, "-c", script], tmp_path, PROXY_HOPS="1")
    assert result.stdout.split() == ["json", "1"], result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_serves_with_settings_only_from_dot_env(tmp_path):
    """docker-compose.yml's web command, in a directory whose .env is the whole configuration."""
    port = _free_port()
    _write_env(tmp_path / ".env", _settings(f"http://127.0.0.1:{port}", f"sqlite:///{tmp_path / 'web.db'}"))
    assert _qb24(tmp_path, "migrate").returncode == 0
    command = [PYTHON, "-m", "gunicorn", "-c", "python:config.gunicorn", "--bind", f"127.0.0.1:{port}",
               "--workers", "1", "webhooks:create_app()"]
    bare = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(command, cwd=tmp_path, env=bare, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet; booting the worker
                assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        assert answer.status_code == 200, answer.text
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "ConfigError" not in output


def test_the_celery_app_reads_dot_env_when_celery_loads_it(tmp_path):
    """`celery -A workers.celery_app` (worker and beat alike) builds the app from the .env's settings."""
    values = _settings("https://from-file.example", f"sqlite:///{tmp_path / 'celery.db'}")
    _write_env(tmp_path / ".env", {**values, "RECONCILE_INTERVAL_S": "123"})
    result = _run([PYTHON, "-m", "celery", "-A", "workers.celery_app", "report"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "'schedule': 123.0" in result.stdout  # beat's reconciliation: the file's RECONCILE_INTERVAL_S
    result = _run([PYTHON, "-m", "celery", "-A", "workers.celery_app", "report"], tmp_path,
                  RECONCILE_INTERVAL_S="77")
    assert "'schedule': 77.0" in result.stdout and "'schedule': 123.0" not in result.stdout
