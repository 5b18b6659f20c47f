"""What the invoice mappers need to know about a portal, read once per run in one batch (plus the stages)."""
from __future__ import annotations

from typing import Any

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_batch import Command
from mappers.invoice import PortalFacts
from workers.portal_settings import default_category, effective_settings, stage_source, stages_from

# crm.persontype.list names the two payer types this way (reference §6; the names are UNCERTAIN on real
# portals, so an unnamed portal falls back to the types' order: legal entity first).
PERSON_TYPE_NAMES = {"CRM_COMPANY": "company", "CRM_CONTACT": "contact"}


def read_portal_facts(client: Bitrix24Client, stored_settings: dict[str, Any]) -> tuple[PortalFacts, dict[str, str]]:
    """The portal's facts and the effective stage map (stored settings over the real stage list)."""
    facts, stages = read_facts_and_stages(client, uses_new_invoice(stored_settings))
    return facts, stage_map_of(stored_settings, stages)


def uses_new_invoice(stored_settings: dict[str, Any]) -> bool:
    return bool(effective_settings(stored_settings, []).get("use_new_invoice"))


def stage_map_of(stored_settings: dict[str, Any], stages: list[dict[str, Any]]) -> dict[str, str]:
    """The effective stage map: the stored settings over the portal's real stage list."""
    return effective_settings(stored_settings, stages)["stage_map"]


def read_facts_and_stages(client: Bitrix24Client, use_new_invoice: bool) -> tuple[PortalFacts, list[dict[str, Any]]]:
    """The portal's facts and its ordered invoice stages: one batch, plus crm.status.list for Smart Invoices."""
    commands: dict[str, Command] = {"currencies": ("crm.currency.list", {}), "stages": stage_source(use_new_invoice)}
    if not use_new_invoice:
        commands.update(person_types=("crm.persontype.list", {}), pay_systems=("crm.paysystem.list", {}))
    answer = client.batch(commands)
    if answer.errors:
        raise next(iter(answer.errors.values()))
    results = answer.results
    stages = stages_from(client, use_new_invoice, results.get("stages"))
    category = default_category(results.get("stages")) if use_new_invoice else None
    person_types = _person_types(results.get("person_types") or [])
    facts = PortalFacts(
        currencies=frozenset(str(c["CURRENCY"]) for c in results.get("currencies") or []),
        base_currency=next((str(c["CURRENCY"]) for c in results.get("currencies") or [] if c.get("BASE") == "Y"), None),
        category_id=int(category["id"]) if category else None,
        person_type_ids=person_types,
        pay_system_ids=pay_systems(results.get("pay_systems") or [], person_types))
    return facts, stages


def _person_types(rows: list[dict[str, Any]]) -> dict[str, str]:
    found = {PERSON_TYPE_NAMES[r["NAME"]]: str(r["ID"]) for r in rows if r.get("NAME") in PERSON_TYPE_NAMES}
    if not found and len(rows) >= 2:
        found = {"company": str(rows[0]["ID"]), "contact": str(rows[1]["ID"])}
    return found


def pay_systems(rows: list[dict[str, Any]], person_types: dict[str, str]) -> dict[str, str]:
    """An active pay system per payer kind: its own person type's first, else the first active one."""
    # A pay system belongs to one person type (crm.paysystem.list PERSON_TYPE_ID); whether Bitrix24 refuses
    # an invoice whose pay system is another type's is not documented (UNCERTAIN), so a kind without one of
    # its own still gets a working pay system rather than failing every invoice.
    active = [r for r in rows if r.get("ACTIVE", "Y") == "Y"]
    if not active:
        return {}
    chosen = {}
    for kind, type_id in person_types.items():
        own = [r for r in active if str(r.get("PERSON_TYPE_ID")) == type_id]
        chosen[kind] = str((own or active)[0]["ID"])
    return chosen
