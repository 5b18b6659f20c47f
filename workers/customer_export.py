"""Bitrix24 → QuickBooks: a CRM contact, company or lead becomes a QuickBooks customer, once (issue 11).

Called by the add-event worker and by the Create Invoice placement. One export per record at a time: a
lock per (portal, CRM type, record id) across workers, and the link store checked again inside it, so
ten concurrent clicks create one customer. Every create carries a requestid derived from the realm,
portal, record and the DisplayName tried (`request_id`), so a retry after a crash replays QuickBooks' first
answer instead of creating a second customer (reference Q §6).

Duplicate names (Fault 6240). QuickBooks wants DisplayName unique across customers, vendors and
employees (reference Q §4). The rule, applied to the name and then to each numbered name in turn:

1. Create the customer under the record's DisplayName (mappers/b24_customer.display_name).
2. On 6240, read the top-level customers, active or not, holding that exact DisplayName
   (`WHERE DisplayName = '<name>' AND Active IN (true, false)`). If one of them shares an email
   (compared lower-cased) or a phone (compared by its digits) with the CRM record, it is the same
   client: it is linked, nothing is created. The lowest Id wins when several do.
3. Otherwise (no customer matches; or the name is a vendor's or an employee's, or held in another
   letter case, so no customer comes back) try again as "<name> (2)", then "<name> (3)", … up to
   "<name> (10)", each attempt with its own requestid, the base shortened so the suffix fits in 500
   characters. When all ten are taken the export fails with DuplicateName, naming the names tried.

Where the customer is remembered. A contact or company owns the sync link (store/links.py) to its
customer, so QuickBooks' own changes update that record, whatever the portal's customer rule: the sync
maps a linked customer as the kind of its linked record (mappers/customer.map_customer `linked_as`), so a
company exported under "always contacts" stays that company, and a contact under "always companies" that
contact; the rule decides only for customers not linked yet. It gets a CustomerRef
(store/customer_refs.py) instead when it cannot own the link: a lead (leads are not synced), or a customer
already linked to another CRM record (a link is unique per customer).

The echo. QuickBooks announces the new customer (webhook, then the change pull). The link is bound with
the customer's MetaData.LastUpdatedTime and the content hash of what the pull would map it to, so the
pull finds it unchanged and spends no Bitrix24 call: equal timestamps are not skipped as older
(workers/change_apply._older), the equal hash is (workers/sync_customers._split). A company's contact
person (its first contact, when that contact is not linked to a customer of its own) becomes the
customer's GivenName/FamilyName and is bound as the customer's person contact (Link "CustomerPerson"),
so no update ever adds a second person contact for it.

A lead's customer is imported, once. It has no link (a lead is no synced record), so the pull imports it
as a new contact or company under the rule, as any customer made in QuickBooks — on purpose: the invoices
QuickBooks makes for it (Create Invoice on a lead exists for them) need a CRM contact or company to be
synced to (workers/sync_invoices._parties fails an invoice whose customer is not in Bitrix24). Once: the
import binds the link, so later pulls update that record; it matches a contact or company of the same
kind holding the lead's email or phone (workers/customer_match.py) instead of creating one; the record it
creates carries the origin markers, so its own add event exports nothing. The lead keeps its CustomerRef.
"""
from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from clients.quickbooks import QuickBooksClient, quoted
from clients.quickbooks_errors import DuplicateName, NotFound
from mappers.b24_customer import check_record, comm_keys, customer_body, numbered
from mappers.customer import is_sub_customer, map_customer
from mappers.multifield import normalized
from mappers.origin import parse_origin
from mappers.qbo_time import meta_time
from store.customer_refs import ref_for, refer
from store.db import transaction
from store.links import bind, bind_new, link_for_b24, link_for_qbo
from store.models import Portal
from workers.sync_customers import CUSTOMER, PERSON

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from workers.context import Services

MAX_ATTEMPTS = 10          # the name, then "(2)" … "(10)"
LOCK_TIMEOUT_S = 120.0     # the lock outlives the slowest export (QuickBooks times requests out at 120 s)
LOCK_WAIT_S = 60.0
QUICK_LOCK_WAIT_S = 10.0  # a web request's wait (Create Invoice): it must answer within the server's 30 s
_PHONE_FIELDS = ("PrimaryPhone", "Mobile", "AlternatePhone", "Fax")


@dataclass(frozen=True)
class Exported:
    """The QuickBooks customer a CRM record invoices to."""

    customer_id: str      # QuickBooks Customer.Id
    display_name: str
    created: bool         # False: an existing customer was linked/reused
    active: bool = True   # False: made inactive in QuickBooks (its "deletion"), which invoices it no more


def customer_for(session: Session, portal_id: int, b24_type: str, b24_id: str) -> str | None:
    """The QuickBooks customer id of a CRM record, from its link or its CustomerRef; no network."""
    link = link_for_b24(session, portal_id, b24_type, str(b24_id))
    if link is not None and link.qbo_type in (CUSTOMER, PERSON):  # a person contact invoices to its company
        return link.qbo_id
    ref = ref_for(session, portal_id, b24_type, str(b24_id))
    return ref.qbo_id if ref is not None else None


def ensure_customer(services: Services, portal: Portal, realm_id: str, b24_type: str,
                    record: dict[str, Any], *, quick: bool = False) -> Exported:
    """The record's QuickBooks customer, created and remembered when it has none (module docstring).
    `quick` on a web request's path: the clients' short timeouts and a short wait for the lock.

    Raises MappingError (a record the mapper refuses), QuickBooksError (DuplicateName when every name of
    the rule is taken), Bitrix24Error (reading a company's contact person) and LockTimeout."""
    check_record(b24_type, record)  # before record["ID"]: a malformed record is a MappingError, not a KeyError
    b24_id = str(record["ID"])
    qbo = services.quickbooks_client(realm_id, quick=quick)
    wait = QUICK_LOCK_WAIT_S if quick else LOCK_WAIT_S
    with ExitStack() as held:
        held.enter_context(_lock(services, portal.id, b24_type, b24_id, wait))
        with services.sessions() as session:
            known = customer_for(session, portal.id, b24_type, b24_id)
        if known is not None:
            found = qbo.get("Customer", known)
            return Exported(known, str(found["DisplayName"]), created=False, active=is_active(found))
        marked = _marked_customer(qbo, realm_id, record)
        if marked is not None:
            _remember(services, portal, realm_id, b24_type, b24_id, marked, None)
            return Exported(str(marked["Id"]), str(marked["DisplayName"]), created=False,
                            active=is_active(marked))
        person = _contact_person(services, portal, record, held, quick) if b24_type == "company" else None
        body = customer_body(b24_type, record, person=person)
        customer, created = _create_or_match(qbo, _request_key(realm_id, portal, b24_type, b24_id), body,
                                             comm_keys(record))
        _remember(services, portal, realm_id, b24_type, b24_id, customer, person if created else None)
        return Exported(str(customer["Id"]), str(customer["DisplayName"]), created, is_active(customer))


def is_active(customer: dict[str, Any]) -> bool:
    """QuickBooks' Active flag (absent reads as active: reference quickbooks §4)."""
    return customer.get("Active") is not False


def _lock(services: Services, portal_id: int, b24_type: str, b24_id: str,
          wait: float = LOCK_WAIT_S) -> AbstractContextManager[None]:
    return services.locks.hold(f"b24-export:{portal_id}:{b24_type}:{b24_id}", timeout=LOCK_TIMEOUT_S,
                               wait=wait)


def _request_key(realm_id: str, portal: Portal, b24_type: str, b24_id: str) -> str:
    return f"{realm_id}|{portal.member_id}|{b24_type}|{b24_id}"


def request_id(key: str, name: str) -> str:
    """The requestid of creating the record under `name`, ≤ 50 characters (reference Q §6): the same on every
    retry, so a lost answer is replayed, not created twice; a new one once the name changes, since QuickBooks
    replays the first answer to a requestid, a refusal (6240) included: a record renamed in Bitrix24 after its
    name was refused could otherwise never be created."""
    return "qb24-" + hashlib.sha256(f"{key}|{name}".encode()).hexdigest()[:40]


def _create_or_match(qbo: QuickBooksClient, key: str, body: dict[str, Any],
                     keys: set[str]) -> tuple[dict[str, Any], bool]:
    """(customer, created): created under the first free name of the rule, or the holder that matched."""
    base = str(body["DisplayName"])
    for attempt in range(1, MAX_ATTEMPTS + 1):
        name = numbered(base, attempt)
        try:
            return qbo.create("Customer", {**body, "DisplayName": name}, request_id=request_id(key, name)), True
        except DuplicateName:
            holder = _matching_holder(qbo, name, keys)
            if holder is not None:
                return holder, False
    raise DuplicateName(f"QuickBooks already holds '{base}' and '{numbered(base, 2)}' … "
                        f"'{numbered(base, MAX_ATTEMPTS)}' (customers, vendors or employees); rename the record "
                        "in Bitrix24 or the QuickBooks record holding its name.", code="6240")


def _matching_holder(qbo: QuickBooksClient, name: str, keys: set[str]) -> dict[str, Any] | None:
    """The top-level customer holding `name` that shares an email or phone with the CRM record."""
    if not keys:
        return None
    holders = qbo.query(f"SELECT * FROM Customer WHERE DisplayName = {quoted(name)} AND Active IN (true, false) "
                        "ORDERBY Id")
    matching = [c for c in holders if not is_sub_customer(c) and _comm_keys(c) & keys]
    return min(matching, key=lambda c: int(c["Id"]) if str(c["Id"]).isdigit() else 0, default=None)


def _comm_keys(customer: dict[str, Any]) -> set[str]:
    """A QuickBooks customer's emails (a field may hold several, comma-separated) and phone digits."""
    emails = str((customer.get("PrimaryEmailAddr") or {}).get("Address") or "").replace(";", ",").split(",")
    keys = {normalized(email) for email in emails if email.strip()}
    for field in _PHONE_FIELDS:
        number = str((customer.get(field) or {}).get("FreeFormNumber") or "")
        digits = "".join(ch for ch in number if ch.isdigit())
        if digits:
            keys.add(digits)
    return keys


def _marked_customer(qbo: QuickBooksClient, realm_id: str, record: dict[str, Any]) -> dict[str, Any] | None:
    """The customer a record made from this QuickBooks company names in its origin markers (a lost link)."""
    origin = parse_origin(record.get("ORIGINATOR_ID"), record.get("ORIGIN_ID"))
    if origin is None or origin[0] != realm_id or origin[1] != CUSTOMER:
        return None
    try:
        return qbo.get("Customer", origin[2])
    except NotFound:
        return None


def _contact_person(services: Services, portal: Portal, company: dict[str, Any],
                    held: ExitStack, quick: bool = False) -> dict[str, Any] | None:
    """The company's first contact (lowest ID), when it has no customer of its own; its lock stays held until
    the export ends, so the contact's own export waits and then finds it bound as the person contact.

    Read with crm.contact.list filtered by COMPANY_ID (reference B §5): the sandbox has no
    crm.company.contact.items.get; a contact tied to the company only through COMPANY_IDS may be missed."""
    b24 = services.bitrix24_client(portal.member_id, quick=quick)
    rows = b24.call("crm.contact.list", {"filter": {"COMPANY_ID": str(company["ID"])}, "order": {"ID": "ASC"},
                                         "select": ["ID", "NAME", "SECOND_NAME", "LAST_NAME"], "start": -1}).result
    first = min(rows or [], key=lambda r: int(r["ID"]), default=None)
    if first is None or not (str(first.get("NAME") or "").strip() or str(first.get("LAST_NAME") or "").strip()):
        return None
    held.enter_context(_lock(services, portal.id, "contact", str(first["ID"]),
                             QUICK_LOCK_WAIT_S if quick else LOCK_WAIT_S))
    with services.sessions() as session:
        if customer_for(session, portal.id, "contact", str(first["ID"])) is not None:
            return None
    return first


def _remember(services: Services, portal: Portal, realm_id: str, b24_type: str, b24_id: str,
              customer: dict[str, Any], person: dict[str, Any] | None) -> None:
    """Bind the link (with the echo's timestamp and hash), or a CustomerRef when the record cannot own it."""
    qbo_id = str(customer["Id"])
    rule = (portal.settings or {}).get("customer_rule", "by_company_name")
    # mapped as the record's own kind, as the pull maps a linked customer (sync_customers._map_page), so
    # the echo's hash matches whatever the rule
    mapped = (map_customer(customer, realm_id=realm_id, rule=rule, linked_as=b24_type)
              if b24_type != "lead" else None)
    with transaction(services.sessions) as session:
        owner = link_for_qbo(session, portal.id, CUSTOMER, qbo_id)
        elsewhere = owner is not None and (owner.b24_type, owner.b24_id) != (b24_type, b24_id)
        if mapped is None or elsewhere or not _bound(
                session, portal.id, b24_type, b24_id, qbo_id, meta_time(customer), mapped.content_hash):
            refer(session, portal_id=portal.id, b24_type=b24_type, b24_id=b24_id, qbo_id=qbo_id)
            return
        if person is not None and mapped.person is not None:
            bind(session, portal_id=portal.id, qbo_type=PERSON, qbo_id=qbo_id, b24_type="contact",
                 b24_id=str(person["ID"]))


def _bound(session: Session, portal_id: int, b24_type: str, b24_id: str, qbo_id: str,
           updated_at: datetime | None, content_hash: str) -> bool:
    """Bind the record to the customer unless another record holds the customer by now: a concurrent export
    of a duplicate record, or the change pull, may commit its link after the owner was looked up, and bind's
    upsert would move that link here."""
    link = dict(portal_id=portal_id, qbo_type=CUSTOMER, qbo_id=qbo_id, b24_type=b24_type, b24_id=b24_id,
                source_updated_at=updated_at, content_hash=content_hash)
    if bind_new(session, **link):
        return True
    owner = link_for_qbo(session, portal_id, CUSTOMER, qbo_id)
    if owner is None or (owner.b24_type, owner.b24_id) != (b24_type, b24_id):
        return False
    bind(session, **link)  # ours already (a retry): refresh the echo's timestamp and hash
    return True
