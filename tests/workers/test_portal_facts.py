"""Portal facts for old invoices: a pay system per payer type (crm.paysystem.list rows carry PERSON_TYPE_ID)."""
from __future__ import annotations

from pathlib import Path

from tests.workers.sync_support import connected_rig
from workers.portal_facts import pay_systems, read_portal_facts


def test_each_payer_type_gets_its_own_pay_system_from_the_portal(tmp_path: Path) -> None:
    with connected_rig(tmp_path) as rig:
        _, b24 = rig.clients()
        facts, _ = read_portal_facts(b24, {"use_new_invoice": False})
        listed = b24.call("crm.paysystem.list", {}).result
    kind_of = {facts.person_type_ids["company"]: "company", facts.person_type_ids["contact"]: "contact"}
    assert len(facts.pay_system_ids) == 2
    for payer, pay_system in facts.pay_system_ids.items():
        row = next(r for r in listed if str(r["ID"]) == pay_system)
        assert kind_of[str(row["PERSON_TYPE_ID"])] == payer


def test_a_payer_type_without_a_pay_system_of_its_own_falls_back():
    types = {"company": "1", "contact": "2"}
    rows = [{"ID": "7", "ACTIVE": "N", "PERSON_TYPE_ID": "2"}, {"ID": "8", "ACTIVE": "Y", "PERSON_TYPE_ID": "1"},
            {"ID": "9", "ACTIVE": "Y", "PERSON_TYPE_ID": "1"}]
    assert pay_systems(rows, types) == {"company": "8", "contact": "8"}  # inactive 7 is never chosen
    assert pay_systems([{"ID": "5", "ACTIVE": "Y"}], types) == {"company": "5", "contact": "5"}  # no PERSON_TYPE_ID
    assert pay_systems([], types) == {}
