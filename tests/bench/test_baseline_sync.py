"""The full-sync bench's parts: the sandboxes' request counters and the record-by-record baseline."""
from __future__ import annotations

import logging

import pytest

from bench.full_sync_harness import Harness, add_portal, run_worker, set_invoice_kind, start_harness
from bench.traffic import Tally
from qb24.demo import b24_control
from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import AppCredentials
from clients.coordination import locks_for
from clients.ratelimit import make_limiter
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory
from store.tokens import SqlPortalTokens

CUSTOMERS, INVOICES = 12, 30


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Harness:
    werkzeug = logging.getLogger("werkzeug")
    saved = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # put back after: later tests read werkzeug's access log
    url = f"sqlite:///{tmp_path_factory.mktemp('bench') / 'bench.db'}"
    world = start_harness(url, customers=CUSTOMERS, invoices=INVOICES, seed=3, speedup=25.0,
                          invoice_kind="smart")
    try:
        yield world
    finally:
        world.stop()
        werkzeug.setLevel(saved)


def b24_client(harness: Harness, member_id: str) -> Bitrix24Client:
    """The service's client on the stored tokens of a portal, for reading back."""
    settings = harness.stack.settings
    sessions = make_session_factory(make_engine(settings.database_url))
    return Bitrix24Client(member_id, SqlPortalTokens(sessions, TokenCipher(settings.token_encryption_key)),
                          AppCredentials(settings.b24_client_id, settings.b24_client_secret), locks_for(None),
                          make_limiter(None, 40.0, 40))


def test_a_batch_counts_as_one_request_and_each_of_its_commands(harness):
    member_id = add_portal(harness)
    client = b24_client(harness, member_id)
    b24_control(harness.stack, f"portals/{member_id}/requests/reset")
    before = harness.b24_traffic[member_id].snapshot()
    client.batch([("crm.contact.add", {"fields": {"NAME": "A"}}),
                  ("crm.contact.add", {"fields": {"NAME": "B"}}),
                  ("crm.contact.list", {"select": ["ID"]})])
    tally: Tally = harness.b24_traffic[member_id].snapshot().minus(before)
    assert tally.requests == {"batch:customers": 1}
    assert tally.commands == {"crm.contact.add": 2, "crm.contact.list": 1}
    assert tally.writes == 2
    own = b24_control(harness.stack, f"portals/{member_id}/requests", method="GET")  # the sandbox's count agrees
    assert own["requests"] == {"batch": 1} and own["commands"]["crm.contact.add"] == 2
    assert len(list(client.list_all("crm.contact.list", {"select": ["ID"]}))) == 2


def test_the_baseline_writes_each_record_with_calls_of_its_own(harness):
    member_id = add_portal(harness)
    set_invoice_kind(harness, member_id)
    before = harness.b24_traffic[member_id].snapshot()
    report = run_worker({**harness.worker_config(member_id), "mode": "baseline", "invoice_kind": "smart",
                         "max_customer_id": CUSTOMERS}, timeout=300)
    tally = harness.b24_traffic[member_id].snapshot().minus(before)
    counts = report["counts"]
    assert report["failures"] == [] and counts["customers_seen"] == CUSTOMERS
    assert counts["invoices"] == counts["invoices_seen"] > 0
    client = b24_client(harness, member_id)
    contacts = list(client.list_all("crm.contact.list", {"select": ["ID", "ORIGIN_ID"]}))
    companies = list(client.list_all("crm.company.list", {"select": ["ID", "ORIGIN_ID"]}))
    items = list(client.list_all("crm.item.list", {"entityTypeId": 31, "select": ["id", "xmlId"]}))
    # what Bitrix24 holds is exactly one add request per record: no batch, nothing extra
    assert tally.requests["crm.contact.add"] == len(contacts)
    assert tally.requests["crm.company.add"] == len(companies)
    assert tally.requests["crm.item.add"] == len(items) == counts["invoices"]
    assert tally.requests["crm.item.productrow.set"] == len(items)
    assert "batch:customers" not in tally.requests and "batch:invoices" not in tally.requests
    assert len({c["ORIGIN_ID"] for c in contacts + companies}) == len(contacts) + len(companies)
    assert report["peak_rss_mb"] > 0 and report["cpu_s"] > 0
