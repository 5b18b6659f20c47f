"""The baseline's view of its portal: the stored settings, the real stages and the facts the mappers need."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.baseline_sync import BaselineTarget
from clients.bitrix24 import Bitrix24Client
from mappers.invoice import PortalFacts
from store.models import Portal
from workers.portal_settings import effective_settings, invoice_stages

try:  # the engine's one reading of the portal's facts, when it has one
    from workers.portal_facts import read_portal_facts  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - until sync-engine lands it
    read_portal_facts = None


def baseline_target(config: dict[str, Any], sessions: sessionmaker[Session], b24: Bitrix24Client) -> BaselineTarget:
    """Settings from the portal's row, stages and facts from the portal itself (one call each)."""
    with sessions() as session:
        stored = session.scalar(select(Portal.settings).where(Portal.member_id == config["member_id"])) or {}
    smart = config["invoice_kind"] == "smart"
    settings = effective_settings({**stored, "use_new_invoice": smart}, invoice_stages(b24, smart))
    facts = read_portal_facts(b24) if read_portal_facts else _facts(b24)
    return BaselineTarget(realm_id=config["realm_id"], customer_rule=settings["customer_rule"],
                          invoice_target="smart_invoice" if smart else "invoice",
                          stage_map=settings["stage_map"], facts=facts,
                          max_customer_id=config.get("max_customer_id"))


def _facts(b24: Bitrix24Client) -> PortalFacts:
    """crm.currency.list, the default Smart Invoice category, payer types and a pay system."""
    currencies = b24.call("crm.currency.list").result or []
    categories = (b24.call("crm.category.list", {"entityTypeId": 31}).result or {}).get("categories") or []
    default = next((c for c in categories if c.get("isDefault") == "Y"), categories[0] if categories else None)
    person_types = {row["NAME"]: str(row["ID"]) for row in b24.call("crm.persontype.list").result or []}
    pay_systems = [row for row in b24.call("crm.paysystem.list").result or [] if row.get("ACTIVE") == "Y"]
    return PortalFacts(
        currencies=frozenset(row["CURRENCY"] for row in currencies),
        base_currency=next((row["CURRENCY"] for row in currencies if row.get("BASE") == "Y"), None),
        category_id=int(default["id"]) if default else None,
        person_type_ids={kind: person_types[name] for kind, name in
                         (("company", "CRM_COMPANY"), ("contact", "CRM_CONTACT")) if name in person_types},
        pay_system_id=str(pay_systems[0]["ID"]) if pay_systems else None)
