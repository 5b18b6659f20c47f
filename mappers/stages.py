"""QuickBooks invoice status -> kanban stage defaults, from a portal's real stage list.

Stages are `crm.status.list` rows (`SMART_INVOICE_STAGE_<category>` or `INVOICE_STATUS`). Only
their SEMANTICS and SORT are trusted, never their ids or names: portals rename, reorder and add
stages (reference §6 "Read semantics from crm.status.list rather than hard-coding them").
"""
from __future__ import annotations

from typing import Any

from mappers.invoice_status import InvoiceStatus

PROCESS, SUCCESS, FAILURE, APOLOGY = "process", "success", "failure", "apology"


def stage_semantics(stage: dict[str, Any]) -> str:
    """process, success, failure or apology; EXTRA is optional (custom pipelines omit it)."""
    extra = (stage.get("EXTRA") or {}).get("SEMANTICS") if isinstance(stage.get("EXTRA"), dict) else None
    code = stage.get("SEMANTICS")
    if code == "S":
        return SUCCESS
    if code == "F":
        return APOLOGY if extra == APOLOGY else FAILURE
    return PROCESS


def ordered_stages(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stages in kanban order: SORT, then ID (crm.status.list gives SORT as a string)."""
    return sorted(stages, key=lambda s: (_number(s.get("SORT")), _number(s.get("ID"))))


def default_stage_map(stages: list[dict[str, Any]]) -> dict[str, str]:
    """A stage id for every QuickBooks invoice status, chosen by the stages' semantics.

    unsent: the first in-progress stage; sent: the second stage of the kanban (MISSION item 8),
    overdue too (still open, owed); partially paid: the last in-progress stage, the one next to
    paid; paid: the first success stage; voided and deleted: the first failure stage (a plain
    failure before an "apology" one).
    """
    kanban = ordered_stages(stages)
    if not kanban:
        raise ValueError("the portal has no stages for invoices")
    process = [s for s in kanban if stage_semantics(s) == PROCESS] or kanban[:1]
    success = _first(kanban, SUCCESS) or kanban[-1]
    failure = _first(kanban, FAILURE) or _first(kanban, APOLOGY) or kanban[-1]
    # The second kanban stage is the second in-progress one: final stages always come last, and
    # a pipeline with one open stage must not send "sent" invoices to its success column.
    sent = process[1] if len(process) > 1 else process[0]
    ids = {
        InvoiceStatus.UNSENT: process[0], InvoiceStatus.SENT: sent, InvoiceStatus.OVERDUE: sent,
        InvoiceStatus.PARTIALLY_PAID: process[-1] if len(process) > 1 else sent,
        InvoiceStatus.PAID: success, InvoiceStatus.VOIDED: failure, InvoiceStatus.DELETED: failure,
    }
    return {status.value: str(ids[status]["STATUS_ID"]) for status in InvoiceStatus}


def _first(stages: list[dict[str, Any]], semantics: str) -> dict[str, Any] | None:
    return next((s for s in stages if stage_semantics(s) == semantics), None)


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
