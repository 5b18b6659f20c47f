"""Customer -> contact/company on real QuickBooks customers (contract §3)."""
from __future__ import annotations

import copy

import pytest

from mappers.customer import Comm, clean_name, is_sub_customer, map_customer
from mappers.customer_kind import job_name, parent_id, top_level_id
from mappers.errors import MappingError
from tests.mappers.qbo_records import customers_41, jsonl

REALM = "9130354"
CUSTOMERS = customers_41()


def mapped(customer: dict, rule: str = "by_company_name"):
    return map_customer(customer, realm_id=REALM, rule=rule)


def test_a_person_becomes_a_contact_with_names_address_and_markers():
    record = mapped(CUSTOMERS["4"])  # Diego Rodriguez
    assert record.entity == "contact" and record.qbo_id == "4" and record.person is None
    assert record.fields["NAME"] == "Diego" and record.fields["LAST_NAME"] == "Rodriguez"
    assert record.fields["ORIGINATOR_ID"] == f"qb24:{REALM}" and record.fields["ORIGIN_ID"] == "Customer:4"
    assert record.fields["ADDRESS"] == CUSTOMERS["4"]["BillAddr"]["Line1"]
    assert record.fields["ADDRESS_CITY"] == CUSTOMERS["4"]["BillAddr"]["City"]
    assert record.emails == (Comm("Diego@Rodriguez.com", "WORK"),)
    assert not {"EMAIL", "PHONE", "WEB", "TITLE"} & set(record.fields)


def test_a_company_customer_becomes_a_company_and_its_person_a_contact():
    # The reference's sample of this customer also carries MiddleName and Notes.
    record = mapped({**CUSTOMERS["1"], "MiddleName": "Michelle", "Notes": "Note added via Update operation."})
    assert record.entity == "company"
    assert record.fields["TITLE"] == "Amy's Bird Sanctuary" and record.fields["CURRENCY_ID"] == "USD"
    assert record.person == {"NAME": "Amy", "SECOND_NAME": "Michelle", "LAST_NAME": "Lauterbach",
                             "ORIGINATOR_ID": f"qb24:{REALM}", "ORIGIN_ID": "Customer:1:person"}
    assert "Note added via Update operation." in record.fields["COMMENTS"]


def test_every_phone_kind_and_the_web_address():
    customer = {**CUSTOMERS["7"], "Mobile": {"FreeFormNumber": "(650) 555-0101"},
                "AlternatePhone": {"FreeFormNumber": "650 555 0102"}, "Fax": {"FreeFormNumber": "650-555-0103"}}
    record = mapped(customer)
    assert [c.value_type for c in record.phones] == ["WORK", "MOBILE", "OTHER", "FAX"]
    assert record.phones[0].value == CUSTOMERS["7"]["PrimaryPhone"]["FreeFormNumber"]
    assert record.webs == (Comm("http://sportinggoods.intuit.com", "WORK"),)


def test_several_addresses_in_one_email_field_become_several_emails():
    customer = {**CUSTOMERS["4"], "PrimaryEmailAddr": {"Address": "diego@rodriguez.com, billing@rodriguez.com"}}
    assert [c.value for c in mapped(customer).emails] == ["diego@rodriguez.com", "billing@rodriguez.com"]


@pytest.mark.parametrize("display,expected", [
    ("Doe, Jack", {"NAME": "Jack", "LAST_NAME": "Doe"}),
    ("Jack Moe", {"NAME": "Jack", "LAST_NAME": "Moe"}),
    ("Araborn", {"NAME": "Araborn"}),
])
def test_names_are_split_from_display_name_when_qbo_has_no_parts(display, expected):
    customer = next(c for c in CUSTOMERS.values() if c["DisplayName"] == display)
    fields = mapped(customer).fields
    assert {k: fields[k] for k in ("NAME", "LAST_NAME") if fields[k]} == expected


def test_rules_override_the_company_name_test():
    assert mapped(CUSTOMERS["1"], "always_contacts").entity == "contact"
    contact = mapped(CUSTOMERS["1"], "always_contacts")
    assert contact.fields["NAME"] == "Amy" and contact.person is None
    company = mapped(CUSTOMERS["4"], "always_companies")
    assert company.entity == "company" and company.fields["TITLE"] == "Diego Rodriguez"
    assert company.person["ORIGIN_ID"] == "Customer:4:person"


@pytest.mark.parametrize("rule", ["by_company_name", "always_contacts", "always_companies"])
def test_a_linked_customer_keeps_its_records_kind_under_every_rule(rule):
    # a record exported from Bitrix24 (or imported before the rule changed) is updated as the kind it is
    for qbo_id, kind in (("1", "company"), ("4", "contact"), ("1", "contact"), ("4", "company")):
        record = map_customer(CUSTOMERS[qbo_id], realm_id=REALM, rule=rule, linked_as=kind)
        unlinked = mapped(CUSTOMERS[qbo_id], "always_contacts" if kind == "contact" else "always_companies")
        assert record.entity == kind and record == unlinked  # the same record and hash as the rule's for that kind


def test_a_link_to_something_else_than_a_contact_or_company_fails_clearly():
    with pytest.raises(MappingError, match="neither a contact nor a company"):
        map_customer(CUSTOMERS["4"], realm_id=REALM, rule="by_company_name", linked_as="lead")


def test_a_business_name_under_always_contacts_is_not_split():
    customer = {**CUSTOMERS["1"], "GivenName": None, "MiddleName": None, "FamilyName": None}
    fields = mapped(customer, "always_contacts").fields
    assert fields["NAME"] == "Amy's Bird Sanctuary" and fields["LAST_NAME"] == ""


def test_an_inactive_customer_is_marked_and_loses_the_deleted_suffix():
    customer = {**CUSTOMERS["12"], "Active": False, "DisplayName": "Jeff's Jalopies (deleted)",
                "CompanyName": "Jeff's Jalopies (deleted)"}
    record = mapped(customer)
    assert record.fields["TITLE"] == "Jeff's Jalopies"
    assert record.fields["COMMENTS"].splitlines()[0] == "Inactive in QuickBooks"
    assert clean_name("Jack Doe (Deleted) ") == "Jack Doe"


def test_shipping_address_goes_to_comments_only_when_it_differs():
    same = mapped(CUSTOMERS["1"]).fields.get("COMMENTS", "")
    assert "Shipping address" not in same
    moved = copy.deepcopy(CUSTOMERS["1"])
    moved["ShipAddr"] = {"Line1": "1 Dock Rd", "City": "Oakland", "CountrySubDivisionCode": "CA", "PostalCode": "94607"}
    assert "Shipping address: 1 Dock Rd, Oakland, CA, 94607" in mapped(moved).fields["COMMENTS"]


def test_sub_customers_are_not_records_and_resolve_to_their_top_level_ancestor():
    job = CUSTOMERS["8"]  # 0969 Ocean View Road, a job of Freeman Sporting Goods (7)
    assert is_sub_customer(job) and parent_id(job) == "7"
    with pytest.raises(MappingError, match="sub-customer"):
        mapped(job)
    parents = {c["Id"]: parent_id(c) for c in CUSTOMERS.values()}
    assert top_level_id("8", parents) == "7" and top_level_id("7", parents) == "7"
    assert top_level_id("3", {"3": "2", "2": "1", "1": None}) == "1"
    assert top_level_id("a", {"a": "b", "b": "a"}) in {"a", "b"}  # a cycle in bad data ends
    assert job_name(job) == "Freeman Sporting Goods:0969 Ocean View Road"


def test_the_content_hash_follows_every_written_value():
    base = mapped(CUSTOMERS["1"])
    assert mapped(copy.deepcopy(CUSTOMERS["1"])).content_hash == base.content_hash
    for change in ({"Notes": "changed"}, {"PrimaryPhone": {"FreeFormNumber": "1"}}, {"MiddleName": "M"},
                   {"WebAddr": {"URI": "http://x.io"}}, {"Active": False}, {"BillAddr": {"City": "X"}}):
        assert mapped({**CUSTOMERS["1"], **change}).content_hash != base.content_hash, change
    assert mapped({**CUSTOMERS["1"], "Balance": 1.5, "SyncToken": "9"}).content_hash == base.content_hash
    assert map_customer(CUSTOMERS["1"], realm_id="other", rule="by_company_name").content_hash != base.content_hash


@pytest.mark.parametrize("broken,field", [
    ({"Id": None}, "Id"), ({"DisplayName": ""}, "DisplayName"), ({"PrimaryEmailAddr": "a@b.c"}, "PrimaryEmailAddr"),
    ({"PrimaryPhone": {"FreeFormNumber": 5}}, "PrimaryPhone.FreeFormNumber"), ({"CurrencyRef": {}}, "CurrencyRef.value"),
])
def test_a_malformed_customer_fails_naming_the_field(broken, field):
    with pytest.raises(MappingError) as error:
        mapped({**CUSTOMERS["4"], **broken})
    assert field in error.value.reason and "QuickBooks" in error.value.reason


def test_an_unknown_rule_fails_with_the_choices():
    with pytest.raises(MappingError, match="always_contacts"):
        mapped(CUSTOMERS["4"], "by_magic")


def test_every_real_customer_maps():
    everyone = list(CUSTOMERS.values()) + jsonl("sandbox2023_customers.jsonl")
    records = [mapped(c) for c in everyone if not is_sub_customer(c)]
    assert len(records) == len([c for c in everyone if not is_sub_customer(c)]) > 40
    for record in records:
        title = record.fields.get("TITLE") or record.fields.get("NAME") or record.fields.get("LAST_NAME")
        assert title and "(deleted)" not in title


def test_values_removed_in_quickbooks_are_written_blank_so_updates_clear_them():
    fields = mapped({**CUSTOMERS["4"], "BillAddr": None, "MiddleName": None, "Notes": None}).fields
    assert fields["COMMENTS"] == "" and fields["SECOND_NAME"] == ""
    assert all(fields[key] == "" for key in ("ADDRESS", "ADDRESS_2", "ADDRESS_CITY", "ADDRESS_POSTAL_CODE",
                                             "ADDRESS_PROVINCE", "ADDRESS_COUNTRY"))
