"""The QuickBooks client against the sandbox over HTTP: OAuth, reads, paging, CDC, writes, errors."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import requests

from clients.coordination import locks_for
from clients.quickbooks import QuickBooksClient
from clients.quickbooks_errors import (AuthorizationRevoked, DuplicateName, NotFound, StaleObject, Throttled,
                                       ValidationFailed)
from clients.quickbooks import no_gate
from clients.quickbooks_limits import QboGate
from qb24.sandboxes import start_qbo_sandbox
from tests.clients.qbo_harness import connect


@pytest.fixture
def qbo():
    sandbox = start_qbo_sandbox(auto_approve=True)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sqlite_sessions(tmp_path):
    from store.db import make_engine, make_session_factory, migrate

    url = f"sqlite:///{tmp_path / 'client.db'}"
    migrate(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def connected(qbo, sqlite_sessions, cipher):
    return connect(qbo, sqlite_sessions, cipher)


def test_connect_stores_tokens_and_reads_company(connected):
    client = connected.client()
    info = client.company_info()
    assert info["CompanyName"]
    stored = connected.tokens.load(connected.realm_id)
    assert stored.access_token and stored.refresh_token
    assert stored.access_expires_at > datetime.now(timezone.utc) + timedelta(minutes=50)


def test_query_pages_reads_every_customer_once(qbo, connected):
    qbo.control("seed", {"customers": 230, "invoices": 20, "seed": 7, "realm_id": connected.realm_id})
    client = connected.client()
    pages = list(client.query_pages("Customer", "Active IN (true, false)", page_size=100))
    ids = [c["Id"] for _, page in pages for c in page]
    assert [start for start, _ in pages] == [1, 101, 201]
    assert len(ids) == len(set(ids)) == client.count("Customer", "Active IN (true, false)") == 230


class _RecordingSession(requests.Session):
    """A plain session that keeps every query statement the client POSTs."""

    def __init__(self) -> None:
        super().__init__()
        self.statements: list[str] = []

    def request(self, method, url, *args, **kwargs):
        if url.split("?")[0].endswith("/query"):
            data = kwargs.get("data")
            self.statements.append(data.decode() if isinstance(data, bytes) else str(data))
        return super().request(method, url, *args, **kwargs)


def _rename_last_to_first(client: QuickBooksClient) -> str:
    """Rename the customer that sorts last by FullyQualifiedName so it sorts first; return its Id."""
    [last] = client.query("SELECT * FROM Customer ORDERBY FullyQualifiedName DESC MAXRESULTS 1")
    renamed = {"DisplayName": f"!{last['DisplayName']}"}
    client.sparse_update("Customer", last["Id"], last["SyncToken"], renamed)
    return last["Id"]


def test_query_pages_orders_by_id_so_a_rename_mid_walk_loses_nothing(qbo, connected):
    """Name lists default to FullyQualifiedName order (reference §11: the 41-customer capture), so a
    rename between pages moves a record across the page boundary; query_pages sends ORDERBY Id."""
    qbo.control("seed", {"customers": 45, "seed": 3, "realm_id": connected.realm_id})
    http = _RecordingSession()
    client = QuickBooksClient(connected.realm_id, tokens=connected.tokens, oauth=connected.oauth,
                              locks=locks_for(None), api_base=connected.api_base, http=http)
    everyone = {c["Id"] for c in client.query("SELECT * FROM Customer MAXRESULTS 1000")}
    seen, renamed = [], None
    for _, page in client.query_pages("Customer", page_size=10):
        seen += [c["Id"] for c in page]
        renamed = renamed or _rename_last_to_first(client)
    assert sorted(seen) == sorted(everyone) and len(seen) == len(set(seen))
    walk = [s for s in http.statements if "STARTPOSITION" in s]
    assert len(walk) == 5 and all(" ORDERBY Id STARTPOSITION " in s for s in walk)
    # The same walk without ORDERBY, same kind of rename: a record is missed and another read twice.
    unordered, start = [], 1
    while page := client.query(f"SELECT * FROM Customer STARTPOSITION {start} MAXRESULTS 10"):
        unordered += [c["Id"] for c in page]
        if start == 1:
            _rename_last_to_first(client)
        start += 10
    assert len(unordered) == len(everyone) and set(unordered) != everyone


def test_query_with_apostrophe_finds_the_customer(connected):
    client = connected.client()
    found = client.query("SELECT * FROM Customer WHERE DisplayName = 'Amy\\'s Bird Sanctuary'")
    assert [c["DisplayName"] for c in found] == ["Amy's Bird Sanctuary"]


def test_sparse_update_changes_only_the_given_fields(connected):
    client = connected.client()
    before = client.get("Customer", "1")
    after = client.sparse_update("Customer", "1", before["SyncToken"], {"Notes": "VIP"})
    assert after["Notes"] == "VIP"
    assert int(after["SyncToken"]) == int(before["SyncToken"]) + 1
    for field in ("DisplayName", "GivenName", "FamilyName", "CompanyName", "PrimaryEmailAddr", "BillAddr"):
        assert after.get(field) == before.get(field)


def test_stale_sync_token_and_duplicate_name_and_missing_object(connected):
    client = connected.client()
    customer = client.get("Customer", "1")
    client.sparse_update("Customer", "1", customer["SyncToken"], {"Notes": "first"})
    with pytest.raises(StaleObject):
        client.sparse_update("Customer", "1", customer["SyncToken"], {"Notes": "second"})
    with pytest.raises(DuplicateName) as duplicate:
        client.create("Customer", {"DisplayName": customer["DisplayName"]})
    assert duplicate.value.code == "6240"
    with pytest.raises(NotFound):
        client.get("Customer", "999999")
    with pytest.raises(ValidationFailed):
        client.query("SELECT * FROM Customer WHERE")


def test_deactivate_customer_renames_it_and_frees_the_name(qbo, connected):
    """Deactivation reads "<name> (deleted)" (reference §11; real body deactivate__employee__1_post_200)."""
    client = connected.client()
    created = client.create("Customer", {"DisplayName": "Gull Rock Cafe"})
    gone = client.deactivate_customer(created)
    assert (gone["Active"], gone["DisplayName"]) == (False, "Gull Rock Cafe (deleted)")
    assert client.create("Customer", {"DisplayName": "Gull Rock Cafe"})["Id"] != created["Id"]
    qbo.control(f"realms/{connected.realm_id}/switches", {"rename_on_deactivate": False})
    kept = client.deactivate_customer(client.create("Customer", {"DisplayName": "Seal Cove Inn"}))
    assert (kept["Active"], kept["DisplayName"]) == (False, "Seal Cove Inn")
    with pytest.raises(DuplicateName):
        client.create("Customer", {"DisplayName": "Seal Cove Inn"})


def test_create_with_the_same_request_id_is_replayed_not_duplicated(connected):
    client = connected.client()
    first = client.create("Customer", {"DisplayName": "Requestid Replay Ltd"}, request_id="r-1")
    again = client.create("Customer", {"DisplayName": "Requestid Replay Ltd"}, request_id="r-1")
    assert again["Id"] == first["Id"]
    assert client.count("Customer", "DisplayName = 'Requestid Replay Ltd'") == 1


@pytest.mark.parametrize("omit_unchanged", [False, True])
def test_invoice_lifecycle_send_void_delete_and_cdc(qbo, connected, omit_unchanged):
    """Under both readings of the sandbox's `cdc_omit_unchanged` (reference §2: an unchanged entity's `{}` kept
    in its place or left out; UNCERTAIN) the unchanged Payment still comes back as an empty list."""
    switches = qbo.control(f"realms/{connected.realm_id}/switches", {"cdc_omit_unchanged": omit_unchanged})
    assert switches["cdc_omit_unchanged"] is omit_unchanged
    client = connected.client()
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    customer = client.create("Customer", {"DisplayName": "Lifecycle GmbH", "PrimaryEmailAddr": {"Address": "a@b.de"}})
    line = {"Amount": 100.0, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    sent = client.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})
    sent = client.send_invoice(sent["Id"], "a@b.de")
    assert sent["EmailStatus"] == "EmailSent"
    voided = client.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})
    voided = client.void_invoice(voided)
    assert voided["TotalAmt"] == 0 and voided["PrivateNote"].startswith("Voided")
    gone = client.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})
    assert client.delete_invoice(gone)["status"] == "Deleted"
    with pytest.raises(NotFound):
        client.get("Invoice", gone["Id"])
    result = client.cdc(["Customer", "Invoice", "Payment"], since)
    assert result.changes["Payment"] == []  # the library would raise AttributeError here
    assert customer["Id"] in {c["Id"] for c in result.changes["Customer"]}
    assert {t["Id"] for t in result.tombstones("Invoice")} == {gone["Id"]}
    assert {sent["Id"], voided["Id"]} <= {i["Id"] for i in result.changes["Invoice"]}
    assert result.time


def test_expired_access_token_is_refreshed_once_and_rotation_persisted(qbo, connected):
    client = connected.client()
    client.company_info()
    old = connected.tokens.load(connected.realm_id)
    qbo.control("tokens/expire", {"realm_id": connected.realm_id})
    assert client.get("Customer", "1")["Id"] == "1"
    new = connected.tokens.load(connected.realm_id)
    assert new.access_token != old.access_token
    assert new.refresh_token != old.refresh_token  # the sandbox rotates on every refresh


def test_revoked_grant_surfaces_as_authorization_revoked(qbo, connected):
    tokens = connected.tokens.load(connected.realm_id)
    connected.oauth.revoke(tokens)
    with pytest.raises(AuthorizationRevoked):
        connected.client().get("Customer", "1")


@pytest.mark.parametrize("throttle_body", ["fault", "xml", "gateway"])
def test_429_is_typed_with_retry_after(qbo, connected, throttle_body):
    """Every reading of the sandbox's UNCERTAIN 429 body (reference §6: JSON Fault, the captured XML of
    intuit/QuickBooks-V3-PHP-SDK#54, the gateway's lowercase `fault`) surfaces as Throttled."""
    settings = qbo.control("settings", {"rate_per_minute": 20, "throttle_body": throttle_body})
    assert settings["throttle_body"] == throttle_body
    client = connected.client()
    with pytest.raises(Throttled) as throttled:
        for _ in range(25):
            client.get("Customer", "1")
    assert throttled.value.retry_after >= 1


def _hammer(connected, gate, workers: int = 6) -> list[Exception]:
    errors: list[Exception] = []

    def work() -> None:
        try:
            connected.client(gate=gate).get("Customer", "1")
        except Exception as exc:  # collected and asserted on by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_concurrency_gate_keeps_us_under_the_realm_limit(qbo, connected):
    connected.client().company_info()  # tokens fresh before the threads start
    qbo.control("settings", {"max_concurrent": 2, "latency_ms": 200})
    ungated = _hammer(connected, no_gate)
    assert ungated and all(isinstance(e, Throttled) for e in ungated)
    assert _hammer(connected, QboGate(None, rate_per_s=100, burst=50, concurrent=2)) == []


def test_multicurrency_invoice_round_trips_through_the_client(connected):
    """Customer reference CurrencyRef ("If specified currency is not currently in the company's currency list, it
    is added") and reference §11 (ExchangeRate, HomeTotalAmt, HomeBalance): what the service creates reads back."""
    client = connected.client()
    customer = client.create("Customer", {"DisplayName": "Rundreise GmbH", "CurrencyRef": {"value": "EUR"}})
    assert customer["CurrencyRef"] == {"value": "EUR", "name": "Euro"}
    line = {"Amount": 200.0, "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    created = client.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line],
                                        "CurrencyRef": {"value": "EUR"}, "ExchangeRate": 1.1})
    fetched = client.get("Invoice", created["Id"])
    assert fetched == created
    assert (fetched["CurrencyRef"]["value"], fetched["ExchangeRate"]) == ("EUR", 1.1)
    assert (fetched["TotalAmt"], fetched["HomeTotalAmt"], fetched["HomeBalance"]) == (200.0, 220.0, 220.0)
    with pytest.raises(ValidationFailed) as mismatch:
        client.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line],
                                  "CurrencyRef": {"value": "USD"}})
    assert mismatch.value.code == "6000" and "same currency" in mismatch.value.detail


def test_batch_query_answers_each_statement_and_returns_an_items_fault_as_its_error(qbo, connected):
    qbo.control("seed", {"customers": 40, "invoices": 30, "seed": 7, "realm_id": connected.realm_id})
    client = connected.client()
    sent: list[str] = []
    client.transport.http.hooks["response"].append(lambda response, *a, **k: sent.append(response.request.url))
    counted, page, broken = client.batch_query([
        "SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)",
        "SELECT * FROM Invoice ORDERBY Id STARTPOSITION 1 MAXRESULTS 10",
        "SELECT * FROM NoSuchEntity"])
    assert len(sent) == 1 and "/batch" in sent[0]
    assert counted["totalCount"] == client.count("Customer", "Active IN (true, false)") == 40
    assert [i["Id"] for i in page["Invoice"]] == [i["Id"] for i in client.query(
        "SELECT * FROM Invoice ORDERBY Id STARTPOSITION 1 MAXRESULTS 10")]
    # the bad statement fails alone, typed as a single query's Fault would be
    with pytest.raises(ValidationFailed) as single:
        client.query("SELECT * FROM NoSuchEntity")
    assert isinstance(broken, ValidationFailed) and broken.code == single.value.code
