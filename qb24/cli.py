"""The `qb24` command: sandboxes, demo, the development web server, a portal's resync, migrations,
the containers' healthchecks."""
from __future__ import annotations

import logging
import threading

import click

from config.logging import LOG_LEVELS


@click.group()
@click.option("--log-level", default="WARNING", show_default=True, help="Python logging level.",
              type=click.Choice(LOG_LEVELS, case_sensitive=False))
def main(log_level: str) -> None:
    """qb24: QuickBooks Online ↔ Bitrix24 integration. Reads ./.env (or QB24_ENV_FILE's file) when there
    is one; variables already in the environment win."""
    from config.env import load_env_file
    from config.logging import configure_logging
    from config.settings import ConfigError

    try:
        load_env_file()  # first: LOG_FORMAT and every command's settings may come from it
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(log_level)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to serve on.")
@click.option("--qbo-port", default=8700, show_default=True, type=int, help="QuickBooks sandbox port (0 = any).")
@click.option("--b24-port", default=8800, show_default=True, type=int, help="Bitrix24 OAuth server/control port.")
# Fixed by default, like the other two: the portal's URL is in a hand-run app's B24_JS_URL and in the
# browser's bookmarks, and stays the same across restarts of the sandbox (README, "Run a stack by hand").
@click.option("--portal-port", default=8801, show_default=True, type=click.IntRange(0, 65535),
              help="The Bitrix24 portal's port (0 = any free port).")
@click.option("--customers", type=int, help="Generate a large company with this many customers (benchmarks).")
@click.option("--invoices", type=int, default=0, help="… and this many invoices.")
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed.")
def sandbox(host: str, qbo_port: int, b24_port: int, portal_port: int, customers: int | None, invoices: int,
            seed: int) -> None:
    """Serve the local QuickBooks Online and Bitrix24 sandboxes until interrupted."""
    from qb24.sandboxes import b24_urls, start_b24_sandbox, start_qbo_sandbox

    try:
        qbo = start_qbo_sandbox(host, qbo_port)
        b24 = start_b24_sandbox(host, b24_port, portal_port)
    except OSError as exc:  # a port taken: say so instead of a traceback (the process ends, and its servers)
        raise click.ClickException(f"cannot serve the sandboxes on {host} (--qbo-port {qbo_port}, "
                                   f"--b24-port {b24_port}, --portal-port {portal_port}): {exc}") from None
    if customers is not None:
        counts = qbo.control("seed", {"customers": customers, "invoices": invoices, "seed": seed})["counts"]
        click.echo(f"Generated company: {counts}")
    click.echo("QuickBooks Online sandbox (sample company; OAuth client qb24-sandbox-client / qb24-sandbox-secret)")
    for label, url in qbo.urls().items():
        click.echo(f"  {label:<20} {url}")
    click.echo(f"Bitrix24 sandbox (portal member_id {b24.default_portal.member_id}; "
               "app local.qb24sandbox.0000 / qb24-b24-sandbox-secret)")
    for label, url in b24_urls(b24).items():
        click.echo(f"  {label:<20} {url}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        qbo.stop()
        b24.stop()


@main.command()
@click.option("--database-url", default="sqlite:///var/demo.db", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to serve on.")
@click.option("--port", default=0, show_default=True, type=int, help="The app's port (0 = any free port).")
@click.option("--qbo-port", default=0, show_default=True, type=int, help="QuickBooks sandbox port (0 = any).")
@click.option("--b24-port", default=0, show_default=True, type=int, help="Bitrix24 OAuth/control port (0 = any).")
def demo(database_url: str, host: str, port: int, qbo_port: int, b24_port: int) -> None:
    """Install the app into the Bitrix24 sandbox, connect the QuickBooks sandbox, then serve until Ctrl-C."""
    from qb24.demo import run_demo

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the in-process servers' access log
    run_demo(database_url, echo=click.echo, host=host, port=port, qbo_port=qbo_port, b24_port=b24_port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
def web(host: str, port: int) -> None:
    """Serve the app for development with settings from the environment (production: gunicorn)."""
    from config.settings import ConfigError
    from webhooks import create_app
    from workers.embedded import ensure_embedded_worker

    try:
        app = create_app()  # reads and validates the environment
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    # Without REDIS_URL the queue is in this process: so is the worker (with Redis, run `celery worker`).
    ensure_embedded_worker(app.extensions["qb24"].celery)
    click.echo(f"qb24 web on http://{host}:{port} (APP_BASE_URL {app.extensions['qb24'].settings.app_base_url})")
    app.run(host=host, port=port, threaded=True, use_reloader=False, debug=False)


@main.command()
@click.option("--portal", "member_id", required=True, help="The portal's member_id.")
@click.option("--dry-run", is_flag=True, help="Report what would be created, updated and moved; write nothing.")
def resync(member_id: str, dry_run: bool) -> None:
    """Run a full sync of a portal's QuickBooks company now, in this process, with progress and report."""
    import sys

    from config.settings import ConfigError, load_settings
    from qb24.resync import resync as run_resync
    from workers.context import Services

    try:
        services = Services.from_settings(load_settings())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        run = run_resync(services, member_id, dry_run=dry_run, echo=click.echo, tty=sys.stdout.isatty())
    finally:
        services.close()
    if run.status != "done":
        sys.exit(1)


@main.command()
def migrate() -> None:
    """Bring the database named by DATABASE_URL to the newest schema (needs no other variable)."""
    from config.settings import ConfigError, load_database_url
    from store.db import migrate as upgrade

    try:
        database_url = load_database_url()
        upgrade(database_url)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # unreachable server, refused login, a failing migration: say which, in one line
        logging.getLogger(__name__).debug("qb24.migrate.failed", exc_info=True)  # traceback: --log-level DEBUG
        raise click.ClickException(f"migration failed: {_one_line(exc)}") from None
    click.echo("database is at the newest revision")


def _one_line(error: BaseException) -> str:
    """The error's first line, with the driver's own error for a database one, and no URL password."""
    from sqlalchemy.exc import DBAPIError

    from config.logging import redact_secrets

    cause = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    text = f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
    return redact_secrets(text)


@main.command()
@click.argument("role", type=click.Choice(["web", "worker", "beat"]))
@click.option("--url", default="http://127.0.0.1:8000/healthz", show_default=True, help="web: the /healthz URL.")
@click.option("--node", help="worker, beat: the node name given as its --hostname (%h: this host). "
                             "Default: celery@%h, celerybeat@%h.")
@click.option("--timeout", default=3.0, show_default=True, type=float, help="Seconds to wait for the answer.")
def healthcheck(role: str, url: str, node: str | None, timeout: float) -> None:
    """Exit 0 when this container's web, worker or beat process answers as a healthy one, else 1."""
    from qb24.healthcheck import Unhealthy, check

    try:
        click.echo(check(role, url=url, node=node, timeout=timeout))
    except Unhealthy as exc:
        raise click.ClickException(str(exc)) from None


@main.command("rotate-keys")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000),
              help="Rows read and written per transaction.")
def rotate_keys(batch_size: int) -> None:
    """Re-encrypt every stored token with the first TOKEN_ENCRYPTION_KEY, so the keys after it can be
    removed. Needs only DATABASE_URL and TOKEN_ENCRYPTION_KEY; safe while the service runs; exits 1 when
    a token decrypts with none of the keys (their rows are named by id)."""
    import sys

    from sqlalchemy.exc import SQLAlchemyError

    from config.settings import ConfigError, load_database_url, load_token_key
    from store.crypto import TokenCipher
    from store.db import make_engine
    from store.rotate import RowKeepsChanging
    from store.rotate import rotate_keys as rotate

    problems, values = [], []
    for load in (load_database_url, load_token_key):
        try:
            values.append(load())
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise click.ClickException("; ".join(problems))
    engine = make_engine(values[0])
    try:
        tables = rotate(engine, TokenCipher(values[1]), batch_size)
    except RowKeepsChanging as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:  # unreachable server, refused login, no schema: which, in one line
        raise click.ClickException(f"cannot rotate the stored tokens: {_one_line(exc)} "
                                   "(is DATABASE_URL right, and the schema migrated with `qb24 migrate`?)") from None
    finally:
        engine.dispose()
    for table in tables:
        line = f"{table.table}: {table.rotated} rotated, {table.current} already current, " \
               f"{len(table.undecryptable)} undecryptable"
        if table.undecryptable:
            line += " (ids " + ", ".join(map(str, table.undecryptable)) + ")"
        click.echo(line)
    if any(table.undecryptable for table in tables):
        click.echo("Rows named above decrypt with none of TOKEN_ENCRYPTION_KEY's keys: put the key they were "
                   "written with back in the list, or have their portals reinstall the app and log in again.",
                   err=True)
        sys.exit(1)
