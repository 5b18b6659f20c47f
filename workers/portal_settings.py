"""A portal's effective settings and its real invoice stages; shared by the app page and the sync engine.

The engine must not import `webhooks` (it runs in Celery workers without Flask), so the pure settings
code lives here and `webhooks.portal_settings` re-exports it.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from clients.bitrix24 import Bitrix24Client
from mappers.customer import CUSTOMER_RULES
from mappers.invoice_status import InvoiceStatus
from mappers.stages import default_stage_map, ordered_stages

STATUSES = tuple(status.value for status in InvoiceStatus)
__all__ = ["CUSTOMER_RULES", "DEAL_LINK_HOURS", "DEFAULTS", "ON_INVOICE_DELETE", "SMART_INVOICE", "STATUSES",
           "deal_link_window", "default_category", "effective_settings", "invoice_stages", "stage_source",
           "stages_from"]
SMART_INVOICE = 31  # entityTypeId of Smart Invoices (reference §6)
# An invoice deleted in QuickBooks: moved to the stage map's "deleted" stage, or removed from Bitrix24.
ON_INVOICE_DELETE = ("stage", "remove")
# Deal follow-through: how long after Create Invoice on a deal the customer's next invoice joins the deal.
DEAL_LINK_HOURS = (1, 720)
DEFAULTS: dict[str, Any] = {"use_new_invoice": True, "customer_rule": "by_company_name", "stage_map": {},
                            "export_new_contacts": False, "on_invoice_delete": "stage", "deal_link_hours": 24}


def effective_settings(stored: Mapping[str, Any], stages: list[dict[str, Any]]) -> dict[str, Any]:
    """The stored settings over the defaults; a stage that no longer exists falls back to its default."""
    settings = {key: stored.get(key, default) for key, default in DEFAULTS.items()}
    if settings["on_invoice_delete"] not in ON_INVOICE_DELETE:  # saved through the schema; never act on junk
        settings["on_invoice_delete"] = DEFAULTS["on_invoice_delete"]
    settings["deal_link_hours"] = _deal_link_hours(settings["deal_link_hours"])
    stage_ids = {str(s["STATUS_ID"]) for s in stages}
    defaults = default_stage_map(stages) if stages else {}
    stored_map = stored.get("stage_map") or {}
    settings["stage_map"] = {status: stored_map[status] if stored_map.get(status) in stage_ids
                             else defaults.get(status, "") for status in STATUSES}
    return settings


def _deal_link_hours(value: Any) -> int:
    low, high = DEAL_LINK_HOURS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return DEFAULTS["deal_link_hours"]
    return value


def deal_link_window(settings: Mapping[str, Any]) -> timedelta:
    """The deal follow-through window of a portal's stored settings (store.deal_requests.remember_deal)."""
    return timedelta(hours=_deal_link_hours(settings.get("deal_link_hours", DEFAULTS["deal_link_hours"])))


def invoice_stages(client: Bitrix24Client, use_new_invoice: bool) -> list[dict[str, Any]]:
    """The portal's real invoice stages in kanban order: the default Smart Invoice pipeline or INVOICE_STATUS."""
    return stages_from(client, use_new_invoice, client.call(*stage_source(use_new_invoice)).result)


def stage_source(use_new_invoice: bool) -> tuple[str, dict[str, Any]]:
    """The Smart Invoice categories (their default names the stage list) or the classic stage list itself."""
    if use_new_invoice:
        return "crm.category.list", {"entityTypeId": SMART_INVOICE}
    return "crm.status.list", {"filter": {"ENTITY_ID": "INVOICE_STATUS"}, "order": {"SORT": "ASC"}}


def default_category(answer: Any) -> dict[str, Any] | None:
    """The default Smart Invoice category of a crm.category.list answer (its id differs between portals)."""
    rows = (answer or {}).get("categories") or [] if isinstance(answer, dict) else []
    return next((c for c in rows if c.get("isDefault") == "Y"), rows[0] if rows else None)


def stages_from(client: Bitrix24Client, use_new_invoice: bool, answer: Any) -> list[dict[str, Any]]:
    """The ordered stages from `stage_source`'s answer (one more call for the Smart Invoice category's)."""
    if not use_new_invoice:
        return ordered_stages(answer or [])
    # The Smart Invoice category id differs between portals (docs show 13 and 5; reference §6).
    category = default_category(answer)
    if category is None:
        return []
    entity = f"SMART_INVOICE_STAGE_{category['id']}"
    rows = client.call("crm.status.list", {"filter": {"ENTITY_ID": entity}, "order": {"SORT": "ASC"}}).result
    return ordered_stages(rows or [])
