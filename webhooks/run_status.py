"""A sync run's state as one sentence for people (the app page and its live progress); scripts keep
the raw `status` of the progress JSON (workers/progress.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from webhooks.i18n import instant


def status_sentence(progress: dict[str, Any], finished_at: datetime | None) -> str:
    """What the run is doing or how it ended, e.g. "The sync finished at May 1, 2024, 9:30:00 AM UTC." (the time in the page's language)."""
    status, dry_run = progress["status"], progress.get("kind") == "dry_run"
    if status == "none":
        return _("No sync has run yet.")
    if status == "pending":
        return _("The dry run is waiting to start.") if dry_run else _("The sync is waiting to start.")
    if status == "running":
        return _running(progress.get("phase"), progress.get("total") is None, dry_run)
    at = instant(finished_at) if finished_at else None
    if status == "done":
        if dry_run:
            return (_("The dry run finished at %(time)s; nothing was written to Bitrix24.", time=at) if at
                    else _("The dry run finished; nothing was written to Bitrix24."))
        return _("The sync finished at %(time)s.", time=at) if at else _("The sync finished.")
    if status == "failed":
        if dry_run:
            return _("The dry run stopped on an error at %(time)s.", time=at) if at else _("The dry run stopped on an error.")
        return _("The sync stopped on an error at %(time)s.", time=at) if at else _("The sync stopped on an error.")
    if status == "cancelled":
        return _("The dry run was cancelled.") if dry_run else _("The sync was cancelled.")
    return _("The sync is in an unknown state (%(status)s).", status=status)


def _running(phase: str | None, counting: bool, dry_run: bool) -> str:
    # phases: workers/full_sync.PHASES; no total yet while the run counts QuickBooks' records
    if phase == "customers":
        return _("The dry run is reading QuickBooks customers.") if dry_run else _("The sync is importing customers.")
    if phase == "invoices":
        return _("The dry run is reading QuickBooks invoices.") if dry_run else _("The sync is importing invoices.")
    if counting:
        return (_("The dry run is starting: counting the records in QuickBooks.") if dry_run
                else _("The sync is starting: counting the records in QuickBooks."))
    return _("The dry run is running.") if dry_run else _("The sync is running.")
