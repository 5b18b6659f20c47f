"""ensure_customer / customer_for against both sandboxes over HTTP, on a portal after its first sync: fields,
contact persons, leads, requestid replays, the duplicate-name rule, concurrent exports, and the echo the
change pull sees afterwards (it must write nothing to Bitrix24). PostgreSQL + Redis, Smart Invoices."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from clients.coordination import LocalLocks, RedisLocks
from clients.quickbooks_errors import DuplicateName
from mappers.errors import MappingError
from mappers.customer import map_customer
from qb24.demo import b24_control
from store.db import transaction
from store.models import CustomerRef, Link, QboConnection
from tests.workers.changes_support import Changed
from tests.workers.e2e_support import SMART, run_sync, synced_world, writes_of
from workers import customer_export
from workers.context import Services
from workers.customer_export import (MAX_ATTEMPTS, _request_key, customer_for, ensure_customer, request_id)
from workers.sync_customers import CUSTOMER, PERSON


@pytest.fixture(scope="module")
def rig(tmp_path_factory) -> Iterator[Changed]:
    with synced_world("postgresql+redis", tmp_path_factory.mktemp("export"), SMART) as world:
        run_sync(world)
        changed = Changed(world)
        assert changed.pull() == "pulled"
        yield changed


def portal(rig: Changed):
    return rig.world.rig.portal()


def export(rig: Changed, b24_type: str, record: dict, services: Services | None = None):
    return ensure_customer(services or rig.services, portal(rig), rig.world.realm_id, b24_type, record)


def crm_add(rig: Changed, b24_type: str, fields: dict[str, Any]) -> dict:
    """Add a CRM record as a portal user would and read it back as crm.<type>.get answers it."""
    reader = rig.world.reader
    new_id = reader.call(f"crm.{b24_type}.add", {"fields": fields}).result
    return reader.call(f"crm.{b24_type}.get", {"id": new_id}).result


def qbo_customers(rig: Changed, name: str | None = None) -> list[dict]:
    """Every customer of the realm, read from the QuickBooks sandbox's control API (no OAuth, no limits)."""
    rows = rig.world.rig.stack.qbo.control(f"realms/{rig.world.realm_id}/entities/Customer", method="GET")["Customer"]
    return [c for c in rows if name is None or c["DisplayName"] == name]


def stored(rig: Changed, model, **where) -> list:
    with rig.world.rig.sessions() as session:
        return list(session.scalars(select(model).filter_by(**where)))


def found(rig: Changed, b24_type: str, b24_id: str) -> str | None:
    with rig.world.rig.sessions() as session:
        return customer_for(session, portal(rig).id, b24_type, b24_id)


def pull_counts(rig: Changed) -> dict[str, int]:
    with rig.world.rig.sessions() as session:
        counts = session.scalar(select(QboConnection.change_counts)) or {}
    return {key: int(counts.get(key, 0)) for key in ("applied", "skipped")}


def link_rows(rig: Changed) -> set[tuple]:
    return {(k.qbo_type, k.qbo_id, k.b24_id, k.content_hash, k.synced_at) for k in rig.world.rig.links()}


def email(value: str, kind: str = "WORK") -> list[dict]:
    return [{"VALUE": value, "VALUE_TYPE": kind}]


def test_a_contact_becomes_a_customer_with_its_fields_and_owns_the_link(rig):
    record = crm_add(rig, "contact", {"NAME": "Pebbles", "LAST_NAME": "Flintstone",
                                      "EMAIL": email("pebbles@rock.example"),
                                      "PHONE": [{"VALUE": "+1 555 0100", "VALUE_TYPE": "MOBILE"}],
                                      "ADDRESS": "301 Cobblestone Way", "ADDRESS_CITY": "Bedrock"})
    exported = export(rig, "contact", record)
    customer = rig.qbo.get("Customer", exported.customer_id)
    assert exported.created and exported.display_name == customer["DisplayName"] == "Pebbles Flintstone"
    assert (customer["GivenName"], customer["FamilyName"]) == ("Pebbles", "Flintstone")
    assert customer["PrimaryEmailAddr"]["Address"] == "pebbles@rock.example"
    assert customer["Mobile"]["FreeFormNumber"] == "+1 555 0100"
    assert customer["BillAddr"]["Line1"] == "301 Cobblestone Way" and customer["BillAddr"]["City"] == "Bedrock"
    (link,) = stored(rig, Link, qbo_type=CUSTOMER, qbo_id=exported.customer_id)
    assert (link.b24_type, link.b24_id) == ("contact", str(record["ID"]))
    assert link.source_updated_at is not None
    assert link.content_hash == map_customer(customer, realm_id=rig.world.realm_id, rule="by_company_name").content_hash
    assert found(rig, "contact", record["ID"]) == exported.customer_id
    again = export(rig, "contact", record)
    assert (again.customer_id, again.created) == (exported.customer_id, False)
    assert len(qbo_customers(rig, "Pebbles Flintstone")) == 1


def test_a_company_takes_its_first_contact_as_its_person_and_that_contact_invoices_to_it(rig):
    company = crm_add(rig, "company", {"TITLE": "Slaghoople Quarry", "EMAIL": email("office@slaghoople.example")})
    person = crm_add(rig, "contact", {"NAME": "Pearl", "LAST_NAME": "Slaghoople", "COMPANY_ID": company["ID"]})
    crm_add(rig, "contact", {"NAME": "Later", "LAST_NAME": "Hire", "COMPANY_ID": company["ID"]})
    exported = export(rig, "company", company)
    customer = rig.qbo.get("Customer", exported.customer_id)
    assert (customer["CompanyName"], customer["GivenName"], customer["FamilyName"]) == (
        "Slaghoople Quarry", "Pearl", "Slaghoople")
    (person_link,) = stored(rig, Link, qbo_type=PERSON, qbo_id=exported.customer_id)
    assert (person_link.b24_type, person_link.b24_id) == ("contact", str(person["ID"]))
    # the person's own export finds the company's customer: no second customer for her
    mine = export(rig, "contact", person)
    assert (mine.customer_id, mine.created) == (exported.customer_id, False)
    assert len(qbo_customers(rig, "Pearl Slaghoople")) == 0


def test_a_company_whose_first_contact_has_its_own_customer_gets_no_person(rig):
    company = crm_add(rig, "company", {"TITLE": "Rockhead & Quarry"})
    contact = crm_add(rig, "contact", {"NAME": "Sam", "LAST_NAME": "Rockhead", "COMPANY_ID": company["ID"]})
    own = export(rig, "contact", contact)
    exported = export(rig, "company", company)
    assert exported.customer_id != own.customer_id
    assert "GivenName" not in rig.qbo.get("Customer", exported.customer_id)
    assert stored(rig, Link, qbo_type=PERSON, qbo_id=exported.customer_id) == []


def test_a_lead_gets_a_customer_reference_not_a_link(rig):
    lead = crm_add(rig, "lead", {"TITLE": "Quarry tour", "NAME": "Tex", "LAST_NAME": "Hardrock",
                                 "COMPANY_TITLE": "Hardrock Tours", "EMAIL": email("tex@hardrock.example")})
    exported = export(rig, "lead", lead)
    customer = rig.qbo.get("Customer", exported.customer_id)
    assert exported.created and customer["DisplayName"] == customer["CompanyName"] == "Hardrock Tours"
    assert stored(rig, Link, qbo_type=CUSTOMER, qbo_id=exported.customer_id) == []
    (ref,) = stored(rig, CustomerRef, b24_type="lead", b24_id=str(lead["ID"]))
    assert ref.qbo_id == exported.customer_id == found(rig, "lead", lead["ID"])


def test_a_record_the_customer_rule_would_sync_as_the_other_kind_gets_a_reference(rig):
    # under "always contacts" the pull would make any customer a contact: a company cannot own its link
    rig.world.rig.set_settings(customer_rule="always_contacts")
    try:
        company = crm_add(rig, "company", {"TITLE": "Always Contact Rocks"})
        exported = export(rig, "company", company)
    finally:
        rig.world.rig.set_settings(customer_rule="by_company_name")
    assert exported.created and stored(rig, Link, qbo_type=CUSTOMER, qbo_id=exported.customer_id) == []
    assert found(rig, "company", company["ID"]) == exported.customer_id


def test_a_retry_after_a_crash_replays_the_create_instead_of_making_a_second_customer(rig):
    record = crm_add(rig, "contact", {"NAME": "Bamm-Bamm", "LAST_NAME": "Rubble"})
    first = export(rig, "contact", record)
    # the crash: QuickBooks created the customer, the link was never committed
    with transaction(rig.world.rig.sessions) as session:
        session.execute(delete(Link).where(Link.qbo_type == CUSTOMER, Link.qbo_id == first.customer_id))
    retried = export(rig, "contact", record)
    assert retried.customer_id == first.customer_id
    assert len(qbo_customers(rig, "Bamm-Bamm Rubble")) == 1
    assert found(rig, "contact", record["ID"]) == first.customer_id
    # the same requestid sent by hand is answered with the same customer too (sandbox/quickbooks/replays.py)
    key = _request_key(rig.world.realm_id, portal(rig), "contact", str(record["ID"]))
    replayed = rig.qbo.create("Customer", {"DisplayName": "anything else"}, request_id=request_id(key, 1))
    assert replayed["Id"] == first.customer_id and len(request_id(key, 1)) <= 50


def test_a_duplicate_name_with_a_matching_email_links_the_customer_already_there(rig):
    # the apostrophe must be escaped in the lookup's query (reference Q §3)
    existing = rig.qbo.create("Customer", {"DisplayName": "Joe's Rock Shop", "CompanyName": "Joe's Rock Shop",
                                           "PrimaryEmailAddr": {"Address": "Joe@Rockhead.example"}})
    record = crm_add(rig, "company", {"TITLE": "Joe\u2019s Rock Shop",  # typed with a typographic apostrophe
                                      "EMAIL": email("joe@rockhead.EXAMPLE", "HOME")})
    exported = export(rig, "company", record)
    assert (exported.customer_id, exported.created) == (existing["Id"], False)
    assert len(qbo_customers(rig, "Joe's Rock Shop")) == 1 and not qbo_customers(rig, "Joe's Rock Shop (2)")
    assert found(rig, "company", record["ID"]) == existing["Id"]


def test_a_name_held_in_another_letter_case_is_numbered(rig):
    # The sandbox clashes names case-insensitively and compares case-sensitively in queries; real QuickBooks'
    # behaviour is not documented either way: finding no holder, the rule numbers the name.
    rig.qbo.create("Customer", {"DisplayName": "GRAND POOBAH", "PrimaryEmailAddr": {"Address": "poobah@lodge.example"}})
    record = crm_add(rig, "contact", {"NAME": "Grand", "LAST_NAME": "Poobah", "EMAIL": email("poobah@lodge.example")})
    exported = export(rig, "contact", record)
    assert exported.created and exported.display_name == "Grand Poobah (2)"


def test_a_duplicate_name_matching_by_phone_digits_already_linked_elsewhere_gets_a_reference(rig):
    existing = rig.qbo.create("Customer", {"DisplayName": "Gazoo Consulting", "CompanyName": "Gazoo Consulting",
                                           "PrimaryPhone": {"FreeFormNumber": "(555) 123-4567"}})
    first = crm_add(rig, "company", {"TITLE": "Gazoo Consulting"})
    with transaction(rig.world.rig.sessions) as session:  # as the pull would have linked it
        session.add(Link(portal_id=portal(rig).id, qbo_type=CUSTOMER, qbo_id=existing["Id"], b24_type="company",
                         b24_id=str(first["ID"])))
    second = crm_add(rig, "company", {"TITLE": "Gazoo Consulting", "PHONE": [{"VALUE": "555.123.4567",
                                                                              "VALUE_TYPE": "WORK"}]})
    exported = export(rig, "company", second)
    assert (exported.customer_id, exported.created) == (existing["Id"], False)
    (ref,) = stored(rig, CustomerRef, b24_type="company", b24_id=str(second["ID"]))
    assert ref.qbo_id == existing["Id"]
    (link,) = stored(rig, Link, qbo_type=CUSTOMER, qbo_id=existing["Id"])
    assert link.b24_id == str(first["ID"])  # the link stays with its owner


def test_a_customer_another_record_bound_meanwhile_stays_with_it(rig, monkeypatch):
    # The race: another export of a duplicate CRM record (or the change pull importing the customer) commits
    # its link between this export's look-up of the customer's owner and its own bind. The interleaving is
    # forced by answering that first look-up as it read before the other commit: nobody's.
    existing = rig.qbo.create("Customer", {"DisplayName": "Race Rock Co", "CompanyName": "Race Rock Co",
                                           "PrimaryEmailAddr": {"Address": "race@rock.example"}})
    first = crm_add(rig, "company", {"TITLE": "Race Rock Co", "EMAIL": email("race@rock.example")})
    with transaction(rig.world.rig.sessions) as session:
        session.add(Link(portal_id=portal(rig).id, qbo_type=CUSTOMER, qbo_id=existing["Id"], b24_type="company",
                         b24_id=str(first["ID"])))
    real, looks = customer_export.link_for_qbo, []

    def stale_then_real(*args):
        looks.append(args)
        return None if len(looks) == 1 else real(*args)

    monkeypatch.setattr(customer_export, "link_for_qbo", stale_then_real)
    second = crm_add(rig, "company", {"TITLE": "Race Rock Co", "EMAIL": email("Race@Rock.example")})
    exported = export(rig, "company", second)
    assert (exported.customer_id, exported.created) == (existing["Id"], False) and looks
    (link,) = stored(rig, Link, qbo_type=CUSTOMER, qbo_id=existing["Id"])
    assert (link.b24_type, link.b24_id) == ("company", str(first["ID"]))  # not taken over by the upsert
    assert found(rig, "company", second["ID"]) == existing["Id"]  # the second invoices to it by a reference


def test_a_duplicate_name_without_a_match_is_created_under_the_next_free_number(rig):
    rig.qbo.create("Customer", {"DisplayName": "Mr Slate", "PrimaryEmailAddr": {"Address": "boss@slate.example"}})
    rig.qbo.create("Customer", {"DisplayName": "Mr Slate (2)"})
    record = crm_add(rig, "contact", {"NAME": "Mr", "LAST_NAME": "Slate", "EMAIL": email("other@slate.example")})
    exported = export(rig, "contact", record)
    assert exported.created and exported.display_name == "Mr Slate (3)"
    assert [c["Id"] for c in qbo_customers(rig, "Mr Slate (3)")] == [exported.customer_id]


def test_a_vendors_name_is_numbered_too(rig):
    rig.world.rig.stack.qbo.control(f"realms/{rig.world.realm_id}/names",
                                    {"entity": "Vendor", "DisplayName": "Hard Rock Supplies"})
    record = crm_add(rig, "company", {"TITLE": "Hard Rock Supplies", "EMAIL": email("sales@hardrock.example")})
    exported = export(rig, "company", record)
    assert exported.created and exported.display_name == "Hard Rock Supplies (2)"


def test_when_every_numbered_name_is_taken_the_export_fails_naming_them(rig):
    for attempt in range(1, MAX_ATTEMPTS + 1):
        rig.qbo.create("Customer", {"DisplayName": "Dino" if attempt == 1 else f"Dino ({attempt})"})
    before = len(qbo_customers(rig))
    record = crm_add(rig, "contact", {"NAME": "Dino"})
    with pytest.raises(DuplicateName, match=r"Dino \(10\)"):
        export(rig, "contact", record)
    assert len(qbo_customers(rig)) == before and found(rig, "contact", record["ID"]) is None


@pytest.mark.parametrize("b24_type, record", [("contact", {"NAME": "No", "LAST_NAME": "Id"}),
                                              ("contact", ["not", "a", "record"]),
                                              ("deal", {"ID": "1", "TITLE": "A deal is no customer"})])
def test_what_cannot_be_a_customer_is_refused_as_a_mapping_error_and_changes_nothing(rig, b24_type, record):
    before = len(qbo_customers(rig))
    with pytest.raises(MappingError):
        export(rig, b24_type, record)
    assert len(qbo_customers(rig)) == before and stored(rig, CustomerRef, b24_type=b24_type) == []


@pytest.mark.parametrize("locks", ["redis", "local"])
def test_ten_concurrent_exports_of_one_record_create_one_customer(rig, locks):
    services = rig.services
    if locks == "local":  # the embedded mode: no Redis, process-local locks
        services = Services(services.settings, services.sessions, None)
    assert isinstance(services.locks, RedisLocks if locks == "redis" else LocalLocks)
    record = crm_add(rig, "contact", {"NAME": "Concurrent", "LAST_NAME": locks.title(),
                                      "EMAIL": email(f"{locks}@clicks.example")})
    results, errors, start = [], [], threading.Barrier(10)

    def click() -> None:
        start.wait()
        try:
            results.append(export(rig, "contact", record, services))
        except Exception as error:  # noqa: BLE001 — reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=click) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and len(results) == 10
    assert len({r.customer_id for r in results}) == 1 and sum(r.created for r in results) == 1
    assert len(qbo_customers(rig, f"Concurrent {locks.title()}")) == 1


def test_the_echo_of_exported_customers_writes_nothing_to_bitrix24(rig):
    """After export QuickBooks reports the new customers; the real pull must skip them: no Bitrix24 write,
    no second person contact, the links as they were."""
    assert rig.pull() == "pulled"  # what the earlier tests changed is behind us
    company = crm_add(rig, "company", {"TITLE": "Echo Rock Ltd", "EMAIL": email("echo@rock.example")})
    crm_add(rig, "contact", {"NAME": "Ekko", "LAST_NAME": "Stone", "COMPANY_ID": company["ID"]})
    contact = crm_add(rig, "contact", {"NAME": "Solo", "LAST_NAME": "Echo", "PHONE": [{"VALUE": "555 777",
                                                                                       "VALUE_TYPE": "WORK"}]})
    exported = [export(rig, "company", company), export(rig, "contact", contact)]
    links_before = link_rows(rig)
    crm_before, counts_before = rig.crm(), pull_counts(rig)
    b24_control(rig.world.rig.stack, f"portals/{rig.world.rig.member_id}/requests/reset")
    assert rig.pull() == "pulled"
    counts = b24_control(rig.world.rig.stack, f"portals/{rig.world.rig.member_id}/requests", method="GET")
    assert writes_of(counts["commands"]) == {}, counts
    assert counts["requests"] == {}, counts  # not even a read: the echo costs no Bitrix24 call
    crm_after = rig.crm()
    assert (set(crm_after.contacts), set(crm_after.companies)) == (set(crm_before.contacts), set(crm_before.companies))
    assert link_rows(rig) == links_before
    counts_after = pull_counts(rig)  # the overlap of its window re-reads earlier customers too
    assert counts_after["skipped"] - counts_before["skipped"] >= len(exported), (counts_before, counts_after)
    assert counts_after["applied"] == counts_before["applied"]
    # the control: without the hash the export stored, the same pull would have written to the contact
    with transaction(rig.world.rig.sessions) as session:
        session.execute(update(Link).where(Link.qbo_type == CUSTOMER, Link.qbo_id == exported[1].customer_id)
                        .values(content_hash=None))
    b24_control(rig.world.rig.stack, f"portals/{rig.world.rig.member_id}/requests/reset")
    assert rig.pull() == "pulled"
    counts = b24_control(rig.world.rig.stack, f"portals/{rig.world.rig.member_id}/requests", method="GET")
    assert writes_of(counts["commands"]) == {"crm.contact.update": 1}, counts


def test_a_later_quickbooks_change_updates_the_company_and_its_person_without_a_second_person(rig):
    company = crm_add(rig, "company", {"TITLE": "Later Change Co"})
    person = crm_add(rig, "contact", {"NAME": "Lena", "LAST_NAME": "Change", "COMPANY_ID": company["ID"]})
    exported = export(rig, "company", company)
    assert rig.pull() == "pulled"
    customer = rig.qbo.get("Customer", exported.customer_id)
    rig.qbo.sparse_update("Customer", customer["Id"], customer["SyncToken"], {"FamilyName": "Changed"})
    assert rig.pull() == "pulled"
    crm = rig.crm()
    persons = [c for c in crm.contacts.values() if c.get("COMPANY_ID") == str(company["ID"])]
    assert [c["ID"] for c in persons] == [str(person["ID"])]
    assert persons[0]["LAST_NAME"] == "Changed"
