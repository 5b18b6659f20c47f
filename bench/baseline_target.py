"""The baseline's view of its portal: the stored settings, and the stage map and facts the engine reads too."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.baseline_sync import BaselineTarget
from clients.bitrix24 import Bitrix24Client
from store.models import Portal
from workers.portal_facts import read_portal_facts
from workers.portal_settings import effective_settings


def baseline_target(config: dict[str, Any], sessions: sessionmaker[Session],
                    b24: Bitrix24Client) -> BaselineTarget:
    """Settings from the portal's row; facts and stage map read from the portal as the engine reads them."""
    with sessions() as session:
        stored = session.scalar(select(Portal.settings).where(Portal.member_id == config["member_id"])) or {}
    stored = {**stored, "use_new_invoice": config["invoice_kind"] == "smart"}
    facts, stage_map = read_portal_facts(b24, stored)
    rule = effective_settings(stored, [])["customer_rule"]
    return BaselineTarget(realm_id=config["realm_id"], customer_rule=rule,
                          invoice_target="smart_invoice" if stored["use_new_invoice"] else "invoice",
                          stage_map=stage_map, facts=facts, max_customer_id=config.get("max_customer_id"))
