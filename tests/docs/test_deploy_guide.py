"""docs/deploy.md's commands that can run here do (issue 12): the `.env` block with its generated secrets,
`qb24 migrate` with nothing but DATABASE_URL, and the smoke check against a stack on the sandboxes as
deployed (PostgreSQL, Redis), followed by the browser steps the guide lists: install, open, log in,
Start sync."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import requests
import yaml
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from dotenv import dotenv_values
from sqlalchemy import create_engine, text

from clients.quickbooks_auth import QboTokens
from config.settings import load_settings
from qb24.demo import first_sync, walk_admin_flow
from store.crypto import TokenCipher
from store.db import alembic_config, make_engine, make_session_factory, migrate, transaction
from store.portals import connect_realm, ensure_portal
from store.tokens import SqlRealmTokens
from tests.docs.markdown_support import REPO, clean_env, run_block, runnable_blocks, venv_here
from tests.docs.test_readme_hand_run import README
from tests.services import postgres_schema
from tests.webhooks.stack_support import running_stack
from workers.embedded import EmbeddedWorker

GUIDE = REPO / "docs" / "deploy.md"
PLACEHOLDERS = {"", "change-me-to-a-long-random-string"}


def test_every_runnable_block_has_a_runner() -> None:
    """A block marked runnable that no test runs would be a promise nobody keeps."""
    assert list(runnable_blocks(GUIDE)) == ["env", "smoke", "migrate", "rotate-keys"]
    assert list(runnable_blocks(README)) == ["sandbox", "env", "web", "check"]  # test_readme_hand_run.py


def make_env_file(directory: Path) -> dict[str, str | None]:
    """The guide's `.env` block, run in a checkout's copy (only .env.example is needed)."""
    shutil.copy(REPO / ".env.example", directory / ".env.example")
    result, _ = run_block(runnable_blocks(GUIDE)["env"], directory, clean_env())
    assert result.returncode == 0, result.stderr
    return dotenv_values(directory / ".env")


def test_the_env_block_generates_the_secrets(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    env, again = make_env_file(first), make_env_file(second)
    lines = (first / ".env").read_text().splitlines()
    for name in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert sum(line.startswith(name + "=") for line in lines) == 1, name  # set once, not appended twice
    assert (first / ".env").stat().st_mode & 0o777 == 0o600
    assert len(env["SECRET_KEY"]) >= 32 and env["SECRET_KEY"] not in PLACEHOLDERS
    Fernet(env["TOKEN_ENCRYPTION_KEY"].encode())  # a valid key, or this raises
    assert re.fullmatch(r"[0-9a-f]{48}", env["POSTGRES_PASSWORD"])  # nothing to escape inside DATABASE_URL
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == ("qb24", "qb24")
    for name in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "POSTGRES_PASSWORD"):
        assert env[name] != again[name], f"{name} is not random"
    # What the operator fills in by hand next, then the service's own check of the whole file.
    filled = {**env, "QBO_CLIENT_ID": "id", "QBO_CLIENT_SECRET": "secret", "QBO_VERIFIER_TOKEN": "verifier",
              "B24_CLIENT_ID": "local.1", "B24_CLIENT_SECRET": "secret"}
    settings = load_settings({k: v or "" for k, v in filled.items()})
    assert settings.secret_key == env["SECRET_KEY"]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_qb24_migrate_needs_only_database_url(tmp_path: Path, kind: str) -> None:
    """The guide's migrate block in a shell whose only setting is DATABASE_URL (config's part of issue 12:
    `qb24 migrate` needs nothing else, and prints no traceback)."""
    venv_here(tmp_path)
    block = runnable_blocks(GUIDE)["migrate"]
    if kind == "sqlite":
        migrate_and_check(block, tmp_path, f"sqlite:///{tmp_path / 'qb24.db'}")
    else:
        with postgres_schema() as url:
            migrate_and_check(block, tmp_path, url)


def migrate_and_check(block: str, cwd: Path, url: str) -> None:
    shell = clean_env(DATABASE_URL=url)
    shell["PATH"] = f"{cwd / '.venv' / 'bin'}:{shell['PATH']}"  # the virtualenv the guide speaks of, active
    result, _ = run_block(block, cwd, shell, timeout=90)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "database is at the newest revision" in result.stdout
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            version = db.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert version in ScriptDirectory.from_config(alembic_config(url)).get_heads()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_qb24_rotate_keys_needs_only_the_database_and_the_keys(tmp_path: Path, kind: str) -> None:
    """The key-rotation section's outside-Docker block, in a shell whose only settings are DATABASE_URL and
    TOKEN_ENCRYPTION_KEY (new key first, old after it), on a store holding a token under the old key: it
    prints the line the guide shows and leaves the token readable with the new key alone."""
    venv_here(tmp_path)
    if kind == "sqlite":
        rotate_and_check(tmp_path, f"sqlite:///{tmp_path / 'qb24.db'}")
    else:
        with postgres_schema() as url:
            rotate_and_check(tmp_path, url)


def rotate_and_check(cwd: Path, url: str) -> None:
    old, new = TokenCipher.generate_key(), TokenCipher.generate_key()
    migrate(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        with transaction(sessions) as session:
            portal = ensure_portal(session, member_id="m-1", domain="m-1.bitrix24.com",
                                   client_endpoint="https://m-1.bitrix24.com/rest/",
                                   server_endpoint="https://oauth.bitrix.info/rest/")
            connect_realm(session, portal, QboTokens("r-1", "access", "refresh"), TokenCipher(old))
        shell = clean_env(DATABASE_URL=url, TOKEN_ENCRYPTION_KEY=f"{new},{old}")
        shell["PATH"] = f"{cwd / '.venv' / 'bin'}:{shell['PATH']}"
        result, _ = run_block(runnable_blocks(GUIDE)["rotate-keys"], cwd, shell, timeout=90)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert "qbo_connections: 1 rotated, 0 already current, 0 undecryptable" in result.stdout.splitlines()
        assert SqlRealmTokens(sessions, TokenCipher(new)).load("r-1").refresh_token == "refresh"
    finally:
        engine.dispose()
    shown = re.search(r"such as `(\w+: \d+ rotated, \d+ already current, \d+ undecryptable)`",
                      GUIDE.read_text(encoding="utf-8"))
    assert shown, "the guide shows what rotate-keys prints"


def test_the_rotation_runs_in_a_compose_service_that_exists() -> None:
    """`docker compose run --rm web qb24 rotate-keys`: `web` is a service with the image, .env and DATABASE_URL."""
    guide = GUIDE.read_text(encoding="utf-8")
    service = re.search(r"docker compose run --rm (\S+) qb24 rotate-keys", guide).group(1)
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert service in compose["services"]
    assert compose["services"][service].get("env_file") == ".env"  # TOKEN_ENCRYPTION_KEY
    assert "DATABASE_URL" in compose["services"][service]["environment"]


def test_the_smoke_checks_pass_on_a_stack_as_deployed(tmp_path: Path) -> None:
    """The guide's curl on the host, against a PostgreSQL + Redis stack on the sandboxes (at its own address
    instead of 127.0.0.1:8000), printing what the guide says it prints; then its browser steps."""
    block = runnable_blocks(GUIDE)["smoke"]
    with running_stack("postgresql+redis", tmp_path) as stack:
        result, _ = run_block(block.replace("http://127.0.0.1:8000", stack.url), tmp_path, clean_env())
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"status": "ok", "checks": {"database": True, "schema": True,
                                                                        "redis": True, "broker": True}}
        assert f"prints `{result.stdout.strip()}`" in GUIDE.read_text(encoding="utf-8")

        browser = requests.Session()
        summary = walk_admin_flow(stack, browser)  # install, open: the Log in button; log in: the company
        assert summary["company"] and summary["customers"] > 0
        # Start sync: the queued full sync is taken by a worker of the bulk queue, as worker-bulk takes it.
        bulk = EmbeddedWorker(stack.app.extensions["qb24"].celery, "bulk").start()
        try:
            lines: list[str] = []
            sync = first_sync(stack, browser, lines.append)
        finally:
            bulk.stop()
        assert sync["status"] == "done", lines
        assert any("created" in line for line in lines), lines


def test_the_proxy_examples_hide_metrics_and_let_notifications_through() -> None:
    """A static reading of the Caddy and nginx examples (no proxy runs here): /metrics answered 404 by the
    proxy, the app reached on the loopback port compose publishes, bodies as large as the app accepts."""
    from webhooks.quickbooks import MAX_NOTIFICATION_BYTES

    guide = GUIDE.read_text(encoding="utf-8")
    caddy = re.search(r"```caddy\n(.*?)```", guide, re.S).group(1)
    nginx = re.search(r"```nginx\n(.*?)```", guide, re.S).group(1)
    assert "@metrics path /metrics /metrics/*" in caddy and "respond @metrics 404" in caddy
    assert re.search(r"location \^~ /metrics \{\s*return 404;\s*\}", nginx)
    assert "reverse_proxy 127.0.0.1:8000" in caddy and "proxy_pass http://127.0.0.1:8000;" in nginx
    assert "127.0.0.1:8000:8000" in (REPO / "docker-compose.yml").read_text()
    assert MAX_NOTIFICATION_BYTES == 2 * 1024 * 1024
    assert "max_size 2MiB" in caddy and "client_max_body_size 2m;" in nginx
