"""One company's records in memory: entities by Id, tombstones of deleted records, id sequences."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from .currencies import CURRENCIES, HOME_CURRENCY
from .timefmt import parse_timestamp

ENTITIES = ("Customer", "Invoice", "Payment", "Item", "Term", "Account")
# QuickBooks numbers name-list records and transactions from separate sequences (fixtures: customers 1..70,
# invoices/payments share one range in the 2023 records). Terms and Accounts are read-only here (their Ids
# overlap the customers': account 1 "Services" beside customer 1), so they take no Id from a sequence.
SEQUENCE_OF = {"Customer": "names", "Item": "names", "Invoice": "txns", "Payment": "txns"}


@dataclass
class CompanySwitches:
    """Per-company readings of behaviour the real service varies or leaves uncertain.

    Each default is the reading that is harder for a client; `POST /_sandbox/realms/<id>/switches`
    changes them, and docs/architecture.md lists each with its source.
    """

    # Inactive name-list records read as "<name> (deleted)" (fixtures/quickbooks/recorded-bodies:
    # Employee, Vendor, Account; for Customer by analogy, reference §11).
    rename_on_deactivate: bool = True
    # A voided Payment's lines: cleared (True; the BillPayment reference's "all lines are cleared", and the
    # invoices lose their link to it) or kept at Amount 0 (False; the Payment reference says only "all
    # amounts and quantities are zeroed"). UNCERTAIN; both readings give the invoices their Balance back.
    void_payment_clears_lines: bool = True
    # Preferences.CurrencyPrefs (reference §11): on, because the sample company bills in EUR, GBP and CAD
    # and foreign-currency customers are the harder case; off refuses every foreign CurrencyRef.
    multi_currency: bool = True
    home_currency: str = HOME_CURRENCY
    # CompanyInfo.Country: "US" companies get automated sales tax (QuickBooks computes TaxLines itself,
    # intuit/QuickBooks-V3-PHP-SDK#199); any other country keeps the client's tax codes and amounts.
    country: str = "US"
    # CDC: entities with no changes are `{}` in their place (reference §2: "one QueryResponse element per
    # requested entity") or left out, leaving `[{}]` only when nothing changed at all (python-quickbooks
    # test_cdc.py empty fixture asks for [Invoice, Customer] and holds one `{}`). UNCERTAIN either way.
    cdc_omit_unchanged: bool = False
    # Legacy webhook `lastUpdated` (reference §1.1, §11): False = `2015-10-05T14:42:19-0700` (Java SDK
    # sample; no colon, the harder form), True = `2025-09-08T20:52:31.657Z` (2025 blog sample, .NET SDK).
    webhook_time_utc_millis: bool = False
    # Query entity names: case-sensitive (False; reference §3 from Intuit's query page, and the real 4001
    # "invalid context declaration" for a misspelt entity) or any case (True; Intuit's own code writes
    # `from account` in IntuitDeveloper/Sample-InvoiceWithReimbursedCharge-DotNet QBOApp.cs, and its Vendor
    # and CompanyCurrency reference pages query `from vendor` / `from companycurrency`). UNCERTAIN.
    query_entity_any_case: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON view."""
        return dict(self.__dict__)

    def problem(self, name: str, value: Any) -> str | None:
        """Why `value` cannot be this switch's value (beyond its type), or None."""
        if name == "home_currency" and value not in CURRENCIES:
            return f"home_currency must be one of {', '.join(CURRENCIES)}"
        if name == "country" and not (len(value) == 2 and value.isalpha() and value.isupper()):
            return "country must be a two-letter upper-case ISO 3166 code, like US or GB"
        return None


@dataclass
class Realm:
    """A company (realm) and everything in it."""

    realm_id: str
    company_info: dict[str, Any]
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {e: {} for e in ENTITIES})
    tombstones: dict[str, dict[str, dict[str,
                                         Any]]] = field(default_factory=lambda: {e: {} for e in ENTITIES})
    sequences: dict[str, int] = field(default_factory=lambda: {"names": 0, "txns": 0, "doc": 1000})
    # Vendor/Employee DisplayNames (casefolded → entity): not stored as records, only checked by 6240.
    other_names: dict[str, str] = field(default_factory=dict)
    switches: CompanySwitches = field(default_factory=CompanySwitches)
    # The company's currency list (CompanyCurrency): foreign currencies in use, in the order they were added.
    currencies: list[str] = field(default_factory=list)

    def get(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        """The live record, or None."""
        return self.records[entity].get(entity_id)

    def all(self, entity: str) -> list[dict[str, Any]]:
        """All live records of an entity, in Id order."""
        return sorted(self.records[entity].values(), key=lambda r: int(r["Id"]))

    def next_id(self, entity: str) -> str:
        """Allocate the next Id for the entity's sequence."""
        name = SEQUENCE_OF[entity]
        self.sequences[name] += 1
        return str(self.sequences[name])

    def next_doc_number(self) -> str:
        """Allocate the next invoice DocNumber."""
        self.sequences["doc"] += 1
        return str(self.sequences["doc"])

    def put(self, entity: str, record: dict[str, Any]) -> None:
        """Store a live record."""
        self.records[entity][record["Id"]] = record

    def bury(self, entity: str, entity_id: str, last_updated: str) -> dict[str, Any]:
        """Delete a record, keeping the tombstone CDC reports (`status: Deleted`)."""
        self.records[entity].pop(entity_id, None)
        tombstone = {"domain": "QBO", "status": "Deleted", "Id": entity_id,
                     "MetaData": {"LastUpdatedTime": last_updated}}
        self.tombstones[entity][entity_id] = tombstone
        return tombstone

    def changed_since(self, entity: str, since: datetime) -> list[dict[str, Any]]:
        """Live records and tombstones whose LastUpdatedTime is at or after `since`."""
        found = [r for r in list(self.records[entity].values()) + list(self.tombstones[entity].values())
                 if _updated_at(r) >= since]
        return sorted(found, key=lambda r: (_updated_at(r), int(r["Id"])))


def _updated_at(record: dict[str, Any]) -> datetime:
    """A record's LastUpdatedTime as a datetime."""
    return parse_timestamp(record["MetaData"]["LastUpdatedTime"])


def _as_list(records: Any) -> list[dict[str, Any]]:
    """CompanyData collections may be lists or dicts keyed by Id."""
    if records is None:
        return []
    if isinstance(records, dict):
        return list(records.values())
    return list(records)


def realm_from_company(realm_id: str, company: Any) -> Realm:
    """Build a Realm from a `company.CompanyData` (deep copies: the realm owns its records)."""
    info = copy.deepcopy(getattr(company, "company_info", None) or {})
    realm = Realm(realm_id=realm_id, company_info=info)
    collections = {"Customer": "customers", "Item": "items", "Invoice": "invoices", "Payment": "payments",
                   "Term": "terms", "Account": "accounts"}
    for entity, attribute in collections.items():
        for record in _as_list(getattr(company, attribute, None)):
            realm.put(entity, copy.deepcopy(record))
    for record in _as_list(getattr(company, "deleted_invoices", None)):
        last = record.get("MetaData", {}).get("LastUpdatedTime")
        if last:
            realm.tombstones["Invoice"][record["Id"]] = {"domain": "QBO", "status": "Deleted",
                                                         "Id": record["Id"],
                                                         "MetaData": {"LastUpdatedTime": last}}
    _resume_sequences(realm, _ids(realm.records, realm.tombstones))
    used = (str((customer.get("CurrencyRef") or {}).get("value", "")) for customer in realm.all("Customer"))
    home = realm.switches.home_currency
    realm.currencies = list(dict.fromkeys(code for code in used if code and code != home))
    return realm


def _ids(*groups: dict[str, dict[str, dict[str, Any]]]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """Every (entity, id, record) in the given groups."""
    for group in groups:
        for entity, by_id in group.items():
            for entity_id, record in by_id.items():
                yield entity, entity_id, record


def _resume_sequences(realm: Realm, items: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
    """Continue numbering after the highest Id and DocNumber already present."""
    for entity, entity_id, record in items:
        if entity_id.isdigit() and entity in SEQUENCE_OF:
            name = SEQUENCE_OF[entity]
            realm.sequences[name] = max(realm.sequences[name], int(entity_id))
        doc = str(record.get("DocNumber", ""))
        if entity == "Invoice" and doc.isdigit():
            realm.sequences["doc"] = max(realm.sequences["doc"], int(doc))


def empty_company_info(realm_id: str, company_name: str = "Sandbox Company") -> dict[str, Any]:
    """A minimal CompanyInfo for an empty realm."""
    return {"CompanyName": company_name, "LegalName": company_name, "Country": "US",
            "SupportedLanguages": "en", "domain": "QBO", "sparse": False, "Id": "1", "SyncToken": "0",
            "CompanyAddr": {"Id": "1", "Line1": "123 Sierra Way", "City": "San Pablo",
                            "CountrySubDivisionCode": "CA", "PostalCode": "87999"},
            "MetaData": {"CreateTime": "2020-09-29T04:40:00-07:00",
                         "LastUpdatedTime": "2020-09-29T04:40:00-07:00"}}
