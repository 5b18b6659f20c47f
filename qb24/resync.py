"""`qb24 resync`: start a portal's full sync (or dry run) and run it in this process, with progress.

The run row is the same as the app page's (refused while one is active), the engine the same as
the worker's (`workers.tasks.run_sync`); the progress and report are read back from that row, so
the terminal shows exactly what the app page shows.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import click

from store.db import transaction
from store.models import SyncRun
from store.portals import portal_by_member_id
from workers.context import Services
from workers.full_sync import TRANSIENT
from workers.progress import report_lines, run_progress
from workers.lease import lease_free
from workers.runs import ACTIVE_RUNS, RunActive, active_run, start_run
from workers.tasks import BUSY, PULL_WAIT_S, PULLING, fail_run, run_sync

Echo = Callable[[str], None]
POLL_S = 0.5
PLAIN_EVERY_S = 2.0


def create_run(services: Services, member_id: str, dry_run: bool, echo: Echo) -> int:
    """A committed pending run for the portal, or its stuck active run to resume; ClickException when
    another process is running the portal's sync."""
    portal_id = None
    try:
        with transaction(services.sessions) as session:
            portal = portal_by_member_id(session, member_id)
            if portal is None or portal.status != "installed":
                raise click.ClickException(f"No installed portal with member_id {member_id}.")
            portal_id, active = portal.id, active_run(session, portal.id)
            if active is None:
                return start_run(session, portal.id, dry_run=dry_run).id
    except RunActive:  # another process started one since the read (the index refused ours)
        with services.sessions() as session:
            active = active_run(session, portal_id)
    return _resumable(active, member_id, echo)


def _resumable(active: SyncRun | None, member_id: str, echo: Echo) -> int:
    """The active run's id when no process is running it (a process that died mid-run, a lost queue)."""
    if active is None or not lease_free(active.heartbeat_at):
        which = f" (run {active.id})" if active else ""
        raise click.ClickException(f"A sync is already running for portal {member_id}{which}; wait for it to "
                                   "finish, then run resync again.")
    kind = "dry run" if active.kind == "dry_run" else "sync"
    echo(f"Run {active.id} ({kind}, {active.status}) was left unfinished with no process running it; "
         "resuming it from where it stopped.")
    return active.id


def execute(services: Services, run_id: int, echo: Echo) -> None:
    """Run the engine; an interruption with no worker to resume it fails the run with the reason."""
    try:
        status = run_sync(services, run_id)
        while status == PULLING:  # a change pull holds the realm: the run starts when it ends
            time.sleep(PULL_WAIT_S)
            status = run_sync(services, run_id)
        if status == BUSY:
            echo(f"Another process took run {run_id} over first; its progress is on the app page.")
    except TRANSIENT as error:
        fail_run(services, run_id, f"Interrupted ({type(error).__name__}: {error}); run qb24 resync again "
                                   "(records already written are linked and will not be written twice).")


def resync(services: Services, member_id: str, *, dry_run: bool, echo: Echo, tty: bool) -> SyncRun:
    """Create and run the sync, show its progress, print its report; the finished run."""
    run_id = create_run(services, member_id, dry_run, echo)
    dry = _read(services, run_id).kind == "dry_run"  # a resumed run keeps its own kind
    echo(f"Sync run {run_id} {'(dry run: nothing is written to Bitrix24) ' if dry else ''}for portal {member_id}")
    worker = threading.Thread(target=execute, args=(services, run_id, echo), name="qb24-resync", daemon=True)
    worker.start()
    (_bar_progress if tty else _plain_progress)(services, run_id, worker, echo)
    worker.join()
    run = _read(services, run_id)
    for line in report_lines(run):
        echo(line)
    return run


def _read(services: Services, run_id: int) -> SyncRun:
    with services.sessions() as session:
        return session.get(SyncRun, run_id)


def _plain_progress(services: Services, run_id: int, worker: threading.Thread, echo: Echo) -> None:
    """One line per change, at most every PLAIN_EVERY_S (logs, pipes, CI)."""
    last, shown_at = None, 0.0
    while worker.is_alive():
        line = describe(run_progress(_read(services, run_id)))
        if line != last and time.monotonic() - shown_at >= PLAIN_EVERY_S:
            echo(line)
            last, shown_at = line, time.monotonic()
        worker.join(POLL_S)


def _bar_progress(services: Services, run_id: int, worker: threading.Thread, echo: Echo) -> None:
    """A click progress bar over done/total (the total is known once the engine counted)."""
    with click.progressbar(length=1, label="starting", show_pos=True, width=30) as bar:
        while worker.is_alive():
            progress = run_progress(_read(services, run_id))
            bar.length = max(progress["total"] or 1, progress["done"], 1)
            bar.label = describe(progress, counts=False)
            bar.update(progress["done"] - bar.pos)
            worker.join(POLL_S)


def describe(progress: dict, *, counts: bool = True) -> str:
    """'invoices 40/102, 12.5 records/s, about 5 s left' from the progress the app page polls."""
    parts = [progress.get("phase") or progress["status"]]
    if counts and progress.get("total"):
        parts[0] += f" {progress['done']}/{progress['total']}"
    if progress.get("rate"):
        parts.append(f"{progress['rate']} records/s")
    if progress.get("eta_s") is not None and progress["status"] in ACTIVE_RUNS:
        parts.append(f"about {round(progress['eta_s'])} s left")
    return ", ".join(parts)
