"""CRM contact / company / lead -> QuickBooks Customer create body, on the documented crm.*.get answers."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mappers.b24_customer import MAX_DISPLAY_NAME, comm_keys, customer_body, display_name, numbered
from mappers.customer import map_customer
from mappers.errors import MappingError

B24 = Path(__file__).parents[1] / "fixtures" / "b24"
# Verbatim doc examples (b24restdocs crm-contact-get / crm-company-get, fixtures/bitrix24/doc-examples).
CONTACT = json.loads((B24 / "api-reference__crm__contacts__crm-contact-get__01.json").read_text())["result"]
COMPANY = json.loads((B24 / "api-reference__crm__companies__crm-company-get__01.json").read_text())["result"]
# crm.lead.get has no doc example among the fixtures: the sandbox's lead key set (sandbox/bitrix24/classic.py),
# string values and multi-fields as crm.contact.get answers them.
LEAD = {"ID": "17", "TITLE": "Website enquiry", "HONORIFIC": None, "NAME": "Wilma", "SECOND_NAME": None,
        "LAST_NAME": "Slate", "COMPANY_TITLE": "Slate Rock & Gravel", "COMPANY_ID": None, "CONTACT_ID": None,
        "STATUS_ID": "NEW", "SOURCE_ID": "WEB", "OPPORTUNITY": "0.00", "CURRENCY_ID": "USD", "COMMENTS": None,
        "HAS_PHONE": "Y", "HAS_EMAIL": "Y", "HAS_IMOL": "N", "ORIGINATOR_ID": None, "ORIGIN_ID": None,
        "PHONE": [{"ID": "31", "VALUE_TYPE": "MOBILE", "VALUE": "+1 (555) 010-2030", "TYPE_ID": "PHONE"}],
        "EMAIL": [{"ID": "32", "VALUE_TYPE": "WORK", "VALUE": "Wilma@Slate.example", "TYPE_ID": "EMAIL"}]}


def test_a_contact_becomes_a_person_customer_with_its_first_email_and_phones_by_kind():
    body = customer_body("contact", CONTACT)
    assert body == {"DisplayName": "John Smith", "GivenName": "John", "MiddleName": "Doe", "FamilyName": "Smith",
                    "PrimaryEmailAddr": {"Address": "johnsmith@example.mailing"},
                    "PrimaryPhone": {"FreeFormNumber": "+13333333555"},
                    "AlternatePhone": {"FreeFormNumber": "+15599888666"}}  # HOME has no field of its own


def test_a_contacts_customer_reads_back_as_a_contact_under_the_default_rule():
    # COMPANY_ID is set on the example, yet no CompanyName: one would make the echo a company
    created = {**customer_body("contact", CONTACT), "Id": "58", "Active": True}
    assert map_customer(created, realm_id="1", rule="by_company_name").entity == "contact"


def test_a_company_takes_its_title_and_its_contact_persons_name():
    person = {"ID": "43", "NAME": "John", "SECOND_NAME": None, "LAST_NAME": "Smith"}
    body = customer_body("company", COMPANY, person=person)
    assert body == {"DisplayName": "GAZPROM", "CompanyName": "GAZPROM", "GivenName": "John", "FamilyName": "Smith"}
    mapped = map_customer({**body, "Id": "59"}, realm_id="1", rule="by_company_name")
    assert mapped.entity == "company" and mapped.person["NAME"] == "John"
    assert "GivenName" not in customer_body("company", COMPANY)


def test_a_lead_is_named_by_its_company_then_its_person_then_its_title():
    assert customer_body("lead", LEAD) == {
        "DisplayName": "Slate Rock & Gravel", "CompanyName": "Slate Rock & Gravel", "GivenName": "Wilma",
        "FamilyName": "Slate", "PrimaryEmailAddr": {"Address": "Wilma@Slate.example"},
        "Mobile": {"FreeFormNumber": "+1 (555) 010-2030"}}
    assert display_name("lead", {**LEAD, "COMPANY_TITLE": ""}) == "Wilma Slate"
    assert display_name("lead", {**LEAD, "COMPANY_TITLE": None, "NAME": None, "LAST_NAME": " "}) == "Website enquiry"


def test_names_lose_what_quickbooks_refuses_and_typographic_quotes():
    record = {**CONTACT, "NAME": "Ann:\tMarie", "LAST_NAME": "O\u2019Neil\nJr"}
    body = customer_body("contact", record)
    assert body["DisplayName"] == "Ann Marie O'Neil Jr" and body["GivenName"] == "Ann Marie"
    assert not any(ch in value for value in (body["DisplayName"], body["GivenName"], body["FamilyName"])
                   for ch in ":\t\n\u2019")


def test_a_nameless_record_falls_back_to_email_phone_then_its_kind_and_id():
    bare = {"ID": "7", "NAME": "", "LAST_NAME": None}
    assert display_name("contact", {**bare, "EMAIL": CONTACT["EMAIL"]}) == "johnsmith@example.mailing"
    assert display_name("contact", {**bare, "PHONE": CONTACT["PHONE"]}) == "+13333333555"
    assert display_name("company", {"ID": "9", "TITLE": ":"}) == "Company 9"


def test_a_fallback_name_from_a_phone_loses_what_quickbooks_refuses_too():
    # Bitrix24 keeps a phone's VALUE as typed; a ":" in the DisplayName is refused (2170, reference Q §11)
    phone = [{"VALUE": "Tel: 555 0100\text 12", "VALUE_TYPE": "WORK"}]
    assert display_name("contact", {"ID": "8", "PHONE": phone}) == "Tel 555 0100 ext 12"


def test_lengths_fit_quickbooks_limits():
    long = "x" * 700
    body = customer_body("company", {"ID": "1", "TITLE": long})
    assert len(body["DisplayName"]) == MAX_DISPLAY_NAME and len(body["CompanyName"]) == 100
    assert numbered("Acme", 1) == "Acme" and numbered("Acme", 2) == "Acme (2)"
    assert len(numbered(body["DisplayName"], 10)) == MAX_DISPLAY_NAME and numbered(long, 10).endswith("x (10)")


def test_an_email_quickbooks_would_refuse_is_left_out_and_the_next_one_used():
    record = {"ID": "3", "NAME": "Bo", "EMAIL": [{"VALUE": "not-an-address", "VALUE_TYPE": "WORK"},
                                                 {"VALUE": "bo@example", "VALUE_TYPE": "WORK"},
                                                 {"VALUE": "bo@example.org", "VALUE_TYPE": "HOME"}]}
    assert customer_body("contact", record)["PrimaryEmailAddr"] == {"Address": "bo@example.org"}


def test_the_deprecated_address_fields_become_the_bill_address():
    record = {**CONTACT, "ADDRESS": "4581 Finch St.", "ADDRESS_2": "Suite 2", "ADDRESS_CITY": "Bayshore",
              "ADDRESS_POSTAL_CODE": "94326", "ADDRESS_PROVINCE": "CA", "ADDRESS_COUNTRY": "USA"}
    assert customer_body("contact", record)["BillAddr"] == {
        "Line1": "4581 Finch St.", "Line2": "Suite 2", "City": "Bayshore", "PostalCode": "94326",
        "CountrySubDivisionCode": "CA", "Country": "USA"}


def test_comm_keys_are_lower_cased_emails_and_phone_digits():
    assert comm_keys(LEAD) == {"wilma@slate.example", "15550102030"}


@pytest.mark.parametrize("b24_type, record", [("deal", CONTACT), ("contact", ["not", "a", "record"]),
                                              ("contact", {"NAME": "no id"}),
                                              ("contact", {"ID": "1", "EMAIL": "a@b.c"})])
def test_what_cannot_be_a_customer_is_refused_with_a_reason(b24_type, record):
    with pytest.raises(MappingError):
        customer_body(b24_type, record)
