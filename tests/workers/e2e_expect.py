"""What Bitrix24 must hold for each QuickBooks record, checked field by field from the QuickBooks JSON.

Written apart from mappers/ on purpose (the brief: assert independently, do not re-implement the
mappers): each check states the meaningful outcome (names, links, money, dates, stage) and collects
every mismatch as a sentence, so one failing run shows them all.
"""
from __future__ import annotations

import re
from mappers.invoice_status import InvoiceStatus
from tests.workers.e2e_b24 import Crm

DELETED_SUFFIX = " (deleted)"
CENT = 0.011


def top_level(customer_id: str, customers: dict[str, dict]) -> dict:
    """The customer at the top of a sub-customer's ParentRef chain (the customer itself if top-level)."""
    customer = customers[customer_id]
    while customer.get("ParentRef"):
        customer = customers[customer["ParentRef"]["value"]]
    return customer


def is_company(customer: dict) -> bool:
    """The portal's default rule (by_company_name): a CompanyName makes a company."""
    return bool((customer.get("CompanyName") or "").strip())


def plain_name(name: str) -> str:
    return name.removesuffix(DELETED_SUFFIX).strip()


def digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def qbo_emails(customer: dict) -> set[str]:
    addresses = (customer.get("PrimaryEmailAddr") or {}).get("Address") or ""
    # QuickBooks allows several addresses in one field, comma-separated (reference: PrimaryEmailAddr).
    return {a.strip().casefold() for a in addresses.split(",") if a.strip()}


def qbo_phones(customer: dict) -> dict[str, str]:
    """digits → the QuickBooks field it came from."""
    found = {}
    for key in ("PrimaryPhone", "AlternatePhone", "Mobile", "Fax"):
        number = (customer.get(key) or {}).get("FreeFormNumber")
        if number and digits(number):
            found.setdefault(digits(number), key)
    return found


def check_customer(crm: Crm, customer: dict, realm_id: str, record: dict) -> list[str]:
    """Problems of one top-level customer's CRM record (contact or company)."""
    who = f"Customer {customer['Id']} {customer['DisplayName']!r}"
    problems = _names(customer, record, who) + _comms(customer, record, who) + _address(customer, record, who)
    origin = (record.get("ORIGINATOR_ID"), record.get("ORIGIN_ID"))
    if origin != (f"qb24:{realm_id}", f"Customer:{customer['Id']}"):
        problems.append(f"{who}: origin {origin}")
    if customer.get("Active") is False and "Inactive in QuickBooks" not in (record.get("COMMENTS") or ""):
        problems.append(f"{who}: inactive, but COMMENTS does not say so: {record.get('COMMENTS')!r}")
    return problems


def _names(customer: dict, record: dict, who: str) -> list[str]:
    if is_company(customer):
        title, wanted = record.get("TITLE"), plain_name(customer["CompanyName"])
        problems = [] if title == wanted else [f"{who}: TITLE {title!r} != {wanted!r}"]
        currency = (customer.get("CurrencyRef") or {}).get("value")
        if currency and record.get("CURRENCY_ID") != currency:
            problems.append(f"{who}: CURRENCY_ID {record.get('CURRENCY_ID')!r} != {currency!r}")
        return problems
    given, family = customer.get("GivenName"), customer.get("FamilyName")
    got = (record.get("NAME") or "", record.get("LAST_NAME") or "")
    if given or family:
        wanted = (given or "", family or "")
        return [] if got == wanted else [f"{who}: NAME/LAST_NAME {got} != {wanted}"]
    # No structured name: the display name is split; whatever the split, every word must land once.
    words = sorted(re.findall(r"[^\s,]+", plain_name(customer["DisplayName"])))
    return [] if sorted(" ".join(got).split()) == words else [f"{who}: name {got} is not a split of {words}"]


def _comms(customer: dict, record: dict, who: str) -> list[str]:
    problems = []
    emails = {row["VALUE"].strip().casefold() for row in record.get("EMAIL") or []}
    if emails != qbo_emails(customer):
        problems.append(f"{who}: emails {sorted(emails)} != {sorted(qbo_emails(customer))}")
    phones = {digits(row["VALUE"]): row["VALUE_TYPE"] for row in record.get("PHONE") or []}
    expected = qbo_phones(customer)
    if set(phones) != set(expected):
        problems.append(f"{who}: phones {sorted(phones)} != {sorted(expected)}")
    for number, source in expected.items():
        wanted = {"Mobile": "MOBILE", "Fax": "FAX"}.get(source)
        if wanted and phones.get(number) not in (None, wanted):
            problems.append(f"{who}: {source} {number} typed {phones[number]}")
    if len(record.get("EMAIL") or []) != len(emails) or len(record.get("PHONE") or []) != len(phones):
        problems.append(f"{who}: a duplicated multi-field value: {record.get('EMAIL')} {record.get('PHONE')}")
    return problems


def _address(customer: dict, record: dict, who: str) -> list[str]:
    """The billing address's parts are somewhere in the record's address fields (legacy or legal)."""
    bill = customer.get("BillAddr") or {}
    text = " | ".join(str(v) for k, v in record.items() if "ADDRESS" in k and isinstance(v, str))
    keys = ("Line1", "City", "PostalCode", "CountrySubDivisionCode", "Country")
    parts = [bill[k] for k in keys if bill.get(k)]
    missing = [p for p in parts if p not in text]
    return [f"{who}: address parts {missing} missing from {text!r}"] if missing else []


def person_contact(crm: Crm, customer: dict) -> dict | None:
    """The contact made for a company customer's person, if any (ORIGIN_ID "Customer:<Id>:person")."""
    found = crm.by_origin("contact", f"Customer:{customer['Id']}:person")
    return found[0] if len(found) == 1 else None


def check_person(crm: Crm, customer: dict, company: dict) -> list[str]:
    """A company customer with a person's name also has that person as a contact linked to the company."""
    who = f"Customer {customer['Id']} {customer['DisplayName']!r}"
    person = crm.by_origin("contact", f"Customer:{customer['Id']}:person")
    if not (customer.get("GivenName") or customer.get("FamilyName")):
        return [f"{who}: a person contact out of no person's name"] if person else []
    if len(person) != 1:
        return [f"{who}: {len(person)} person contacts"]
    got = (person[0].get("NAME") or "", person[0].get("LAST_NAME") or "")
    problems = [] if got == (customer.get("GivenName") or "", customer.get("FamilyName") or "") else [
        f"{who}: person {got}"]
    if person[0].get("EMAIL") or person[0].get("PHONE"):  # the set is the company's: matching would find two
        problems.append(f"{who}: the person contact repeats the company's email or phone")
    if str(person[0].get("COMPANY_ID")) != str(company["ID"]):
        problems.append(f"{who}: the person's COMPANY_ID {person[0].get('COMPANY_ID')} != {company['ID']}")
    return problems


def expected_stages(stages: list[dict]) -> dict[InvoiceStatus, str]:
    """The stage for each status on an untouched stage map: sent is the kanban's second stage (issue 9),
    unsent the first, paid the first success stage, voided the first failure stage; overdue stays with
    sent and a part payment moves to the last open stage (mappers/stages.py's documented defaults)."""
    open_stages = [s for s in stages if not s.get("SEMANTICS")]
    success = next(s for s in stages if s.get("SEMANTICS") == "S")
    failure = next(s for s in stages if s.get("SEMANTICS") == "F")
    chosen = {InvoiceStatus.UNSENT: open_stages[0], InvoiceStatus.SENT: stages[1],
              InvoiceStatus.OVERDUE: stages[1], InvoiceStatus.PARTIALLY_PAID: open_stages[-1],
              InvoiceStatus.PAID: success, InvoiceStatus.VOIDED: failure}
    return {status: stage["STATUS_ID"] for status, stage in chosen.items()}


def sales_lines(invoice: dict) -> list[dict]:
    return [line for line in invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"]
