"""The sandbox's whole in-memory state: realms, OAuth grants, settings, counters; one lock guards it."""
from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Callable

from .company import generate_company, sample_company
from .company_lists import make_accounts, make_terms
from .grants import GrantStore
from .realm import Realm, empty_company_info, realm_from_company
from .timefmt import SandboxClock

FIRST_REALM_ID = 9341453050298400  # real sandbox realm ids are 16 digits
SERVICES_ITEM = {"Name": "Services", "Active": True, "FullyQualifiedName": "Services", "Taxable": False,
                 "UnitPrice": 0, "Type": "Service", "IncomeAccountRef": {"value": "1", "name": "Services"},
                 "PurchaseCost": 0, "TrackQtyOnHand": False, "domain": "QBO", "sparse": False, "Id": "1",
                 "SyncToken": "0", "MetaData": {"CreateTime": "2020-09-29T04:40:00-07:00",
                                                "LastUpdatedTime": "2020-09-29T04:40:00-07:00"}}


@dataclass
class Settings:
    """Knobs the control API changes at run time."""

    auto_approve: bool = False
    auto_approve_realm_id: str | None = None
    access_token_ttl: int = 3600
    rate_per_minute: int = 500  # reference §6: 500 requests/minute per realm
    max_concurrent: int = 10  # reference §6: 10 concurrent requests per realm+app
    latency_ms: int = 0
    error_rate: float = 0.0
    # What an injected error answers, drawn evenly (repeat a status to weight it): 500 and 503 are the
    # SystemFault 10000 (reference §6: "500 (resubmit once); 503 unavailable"), 429 the ThrottleExceeded
    # answer in the `throttle_body` envelope, as when the realm's limits are passed.
    error_statuses: list[int] = field(default_factory=lambda: [500, 503, 429])
    cdc_max_objects: int = 1000  # "Server responses can handle a maximum of 1,000 objects." (reference §2)
    # The 429 envelope is UNCERTAIN (reference §6). Every captured 429 is the XML Fault type SERVICE code 3001,
    # and python-quickbooks#43 got XML while asking for JSON, "xml" is a reading; the default
    # "fault" is those fields as a JSON Fault (the body the fidelity issue names), "gateway" the lowercase `fault`.
    throttle_body: str = "fault"
    # Batch (Intuit batch reference, blog 2023-07-19 "Batch without a Scratch"): at most 30 BatchItemRequest
    # payloads; 40 batch requests per minute (reference §6: per realm+app).
    batch_max_items: int = 30
    batch_rate_per_minute: int = 40
    # How long a request waits for another still running with the same requestid before a 503 (reference §6
    # LIM: requests longer than 120 s time out).
    requestid_wait_ms: int = 120_000
    # A live token on a company it was not issued for (or an unknown realmId): UNCERTAIN. 403 is the
    # gateway's `message=AuthorizationFailed; errorCode=003100; statusCode=403` (reference §6, raw in
    # intuit/oauth-jsclient#2, whose answer points at the realmId), which python-quickbooks misfiles as a
    # code-10000 SevereException, so the harder default; 401 is the AuthenticationFailed 3200 shape.
    foreign_realm_status: int = 403

    def as_dict(self) -> dict[str, Any]:
        """JSON view."""
        return asdict(self)


@dataclass
class Stats:
    """Counters exposed by `GET /_sandbox/stats`."""

    requests: int = 0
    throttled: int = 0
    injected_errors: int = 0
    token_grants: Counter = field(default_factory=Counter)
    invalid_grant: int = 0
    refreshes_per_realm: Counter = field(default_factory=Counter)
    requests_per_realm: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {"requests": self.requests, "throttled_429": self.throttled,
                "injected_errors": self.injected_errors,
                "token_grants": dict(self.token_grants), "invalid_grant": self.invalid_grant,
                "refreshes_per_realm": dict(self.refreshes_per_realm),
                "requests_per_realm": dict(self.requests_per_realm)}


class SandboxState:
    """Everything the app remembers; hold `lock` while reading or changing it."""

    def __init__(self, clock: SandboxClock, settings: Settings) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.settings = settings
        self.grants = GrantStore()
        self.realms: dict[str, Realm] = {}
        self.stats = Stats()
        self.replays: dict[tuple[str, str, str], tuple[int, bytes, dict[str, str]]] = {}
        # requestid keys whose first request is still running; its end sets the event (replays.py).
        self.pending: dict[tuple[str, str, str], threading.Event] = {}
        self.windows: dict[str, list[float]] = defaultdict(list)
        self.batch_windows: dict[tuple[str, str], list[float]] = defaultdict(list)  # (realm, client_id)
        self.in_flight: Counter = Counter()
        self._realm_counter = 0

    def now(self) -> datetime:
        """Sandbox time."""
        return self.clock.now()

    def new_realm_id(self) -> str:
        """Next realm id."""
        self._realm_counter += 1
        return str(FIRST_REALM_ID + self._realm_counter)

    def add_realm(self, build: Callable[[str], Realm]) -> Realm:
        """Create a realm with the next id."""
        realm = build(self.new_realm_id())
        self.realms[realm.realm_id] = realm
        return realm

    def reset(self, empty: bool = False) -> Realm:
        """Back to one fresh company; tokens, counters and replays are forgotten, apps stay."""
        self.realms.clear()
        self.grants.clear_tokens()
        self.stats = Stats()
        self.replays.clear()
        for running in self.pending.values():
            running.set()  # waiters look again, find no answer, and run themselves
        self.pending.clear()
        self.windows.clear()
        self.batch_windows.clear()
        self._realm_counter = 0
        return self.add_realm(lambda realm_id: self.build_realm(realm_id, empty=empty))

    def build_realm(self, realm_id: str, *, empty: bool = False, customers: int | None = None,
                    invoices: int = 0, seed: int = 0) -> Realm:
        """A realm holding the sample company, a generated one, or only the Services item, terms and accounts."""
        today = self.clock.today()
        if empty:
            realm = Realm(realm_id=realm_id, company_info=empty_company_info(realm_id))
            realm.put("Item", dict(SERVICES_ITEM))
            created = SERVICES_ITEM["MetaData"]["CreateTime"]
            # A new company already has terms and a chart of accounts (the Services item's account 1 too).
            for term in make_terms(created):
                realm.put("Term", term)
            for account in make_accounts(created):
                if account["Active"]:
                    realm.put("Account", account)
            realm.sequences["names"] = 1
            return realm
        if customers is not None:
            return realm_from_company(realm_id, generate_company(customers, invoices, seed=seed, today=today))
        return realm_from_company(realm_id, sample_company(today))

    def realm(self, realm_id: str) -> Realm | None:
        """The realm, or None."""
        return self.realms.get(realm_id)
