"""Issue 11's echo under every customer rule: a contact or company exported to QuickBooks stays linked to the
record the user made, whatever kind the rule would give its customer, so QuickBooks' announcement of the new
customer (its Customer Create webhook, read by the change pull) writes nothing to Bitrix24, and a later
QuickBooks change updates that record in place. A lead's customer is imported once (customer_export's
docstring says why). Both sandboxes over HTTP, PostgreSQL + Redis, Smart Invoices."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from mappers.customer import CUSTOMER_RULES
from qb24.demo import b24_control
from store.models import CustomerRef, Link
from tests.workers.changes_support import Changed
from tests.workers.e2e_support import SMART, run_sync, synced_world
from tests.workers.test_customer_export import crm_add, email, export, stored
from workers.change_retry import apply_record
from workers.sync_customers import CUSTOMER, PERSON


@pytest.fixture(scope="module")
def rig(tmp_path_factory) -> Iterator[Changed]:
    with synced_world("postgresql+redis", tmp_path_factory.mktemp("rule-echo"), SMART) as world:
        run_sync(world)
        changed = Changed(world)
        assert changed.pull() == "pulled"
        yield changed


@pytest.fixture
def rule(rig: Changed, request) -> Iterator[str]:
    assert rig.pull() == "pulled"  # what earlier tests changed is behind us, under the rule they ran with
    rig.world.rig.set_settings(customer_rule=request.param)
    try:
        yield request.param
    finally:
        rig.world.rig.set_settings(customer_rule="by_company_name")


def write_log(rig: Changed, since: int = 0) -> list[dict]:
    """The sandbox portal's CRM writes (batch commands too), oldest first (sandbox/bitrix24/write_log.py)."""
    return b24_control(rig.world.rig.stack, f"portals/{rig.world.rig.member_id}/writes?since={since}", method="GET")


def last_seq(rig: Changed) -> int:
    return max((w["seq"] for w in write_log(rig)), default=0)


def written(rig: Changed, since: int) -> set[tuple[str, str]]:
    return {(w["method"], str(w["id"])) for w in write_log(rig, since)}


def crm_ids(rig: Changed) -> tuple[set[str], set[str]]:
    crm = rig.crm()
    return set(crm.contacts), set(crm.companies)


def link_of(rig: Changed, qbo_type: str, qbo_id: str) -> tuple[str, str] | None:
    rows = stored(rig, Link, qbo_type=qbo_type, qbo_id=qbo_id)
    return (rows[0].b24_type, str(rows[0].b24_id)) if rows else None


def change_customer(rig: Changed, qbo_id: str, **fields) -> None:
    customer = rig.qbo.get("Customer", qbo_id)
    rig.qbo.sparse_update("Customer", qbo_id, customer["SyncToken"], fields)


@pytest.mark.parametrize("rule", CUSTOMER_RULES, indirect=True)
def test_the_echo_of_an_export_writes_nothing_and_a_real_change_updates_the_record_in_place(rig, rule):
    tag = rule.replace("_", "")
    company = crm_add(rig, "company", {"TITLE": f"Echo {tag} Quarry", "EMAIL": email(f"{tag}@quarry.example")})
    person = crm_add(rig, "contact", {"NAME": "Petra", "LAST_NAME": f"Person{tag}", "COMPANY_ID": company["ID"]})
    contact = crm_add(rig, "contact", {"NAME": "Solo", "LAST_NAME": f"Echo{tag}",
                                       "EMAIL": email(f"solo.{tag}@echo.example")})
    of_company, of_contact = export(rig, "company", company), export(rig, "contact", contact)
    assert of_company.created and of_contact.created
    # the link binds the record the user made, whatever kind the rule would give its customer
    assert link_of(rig, CUSTOMER, of_company.customer_id) == ("company", str(company["ID"]))
    assert link_of(rig, PERSON, of_company.customer_id) == ("contact", str(person["ID"]))
    assert link_of(rig, CUSTOMER, of_contact.customer_id) == ("contact", str(contact["ID"]))
    assert stored(rig, CustomerRef, b24_type="company", b24_id=str(company["ID"])) == []
    records, seq = crm_ids(rig), last_seq(rig)

    # the echo: the pull reads the two new customers QuickBooks announced
    b24_control(rig.world.rig.stack, f"portals/{rig.world.rig.member_id}/requests/reset")
    assert rig.pull() == "pulled"
    assert write_log(rig, seq) == []
    counts = b24_control(rig.world.rig.stack, f"portals/{rig.world.rig.member_id}/requests", method="GET")
    assert counts["requests"] == {}, counts  # not even a read
    assert crm_ids(rig) == records

    # a full sync under the same rule (a rule changed later included) leaves the linked records alone too
    run_sync(rig.world)
    assert written(rig, seq) == set() and crm_ids(rig) == records

    # a real QuickBooks change updates the linked records in place, each as the kind it is
    change_customer(rig, of_company.customer_id, CompanyName=f"Echo {tag} Quarry Ltd", FamilyName=f"Moved{tag}")
    change_customer(rig, of_contact.customer_id, FamilyName=f"Changed{tag}")
    assert rig.pull() == "pulled"
    assert written(rig, seq) == {("crm.company.update", str(company["ID"])),
                                 ("crm.contact.update", str(person["ID"])),
                                 ("crm.contact.update", str(contact["ID"]))}
    crm = rig.crm()
    assert (set(crm.contacts), set(crm.companies)) == records
    assert crm.companies[str(company["ID"])]["TITLE"] == f"Echo {tag} Quarry Ltd"
    assert crm.contacts[str(person["ID"])]["LAST_NAME"] == f"Moved{tag}"
    assert crm.contacts[str(contact["ID"])]["LAST_NAME"] == f"Changed{tag}"

    # Retry (the app page's button) rewrites the record it is linked to, never a new one of the rule's kind
    seq = last_seq(rig)
    assert apply_record(rig.services, rig.world.rig.portal().id, CUSTOMER, of_company.customer_id) == "applied"
    assert {method for method, _ in written(rig, seq)} <= {"crm.company.update", "crm.contact.update"}
    assert {b24_id for _, b24_id in written(rig, seq)} <= {str(company["ID"]), str(person["ID"])}
    assert crm_ids(rig) == records


@pytest.mark.parametrize("rule, kind", [("by_company_name", "company"), ("always_contacts", "contact"),
                                        ("always_companies", "company")], indirect=["rule"])
def test_a_leads_customer_is_imported_once_as_a_client_for_its_invoices(rig, rule, kind):
    tag = rule.replace("_", "")
    lead = crm_add(rig, "lead", {"TITLE": "Quarry tour", "NAME": "Lee", "LAST_NAME": f"Lead{tag}",
                                 "COMPANY_TITLE": f"Lead {tag} Tours", "EMAIL": email(f"lee.{tag}@tours.example")})
    exported = export(rig, "lead", lead)
    before, seq = crm_ids(rig), last_seq(rig)
    assert rig.pull() == "pulled"
    contacts, companies = crm_ids(rig)
    new = (contacts - before[0], companies - before[1])
    # one client of the rule's kind (a company with its person contact under by_company_name/always_companies)
    assert (len(new[0]), len(new[1])) == ((1, 0) if kind == "contact" else (1, 1)), new
    assert link_of(rig, CUSTOMER, exported.customer_id)[0] == kind
    assert stored(rig, CustomerRef, b24_type="lead", b24_id=str(lead["ID"]))[0].qbo_id == exported.customer_id
    # once: the next pull (its window re-reads the customer) and a full sync write nothing
    seq = last_seq(rig)
    assert rig.pull() == "pulled"
    run_sync(rig.world)
    assert written(rig, seq) == set() and crm_ids(rig) == (contacts, companies)
