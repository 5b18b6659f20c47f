"""The portal facts cache's drop rule: a failure that names a cached fact drops it, so the next pull (or the
sync log's Retry) reads the portal again instead of failing on the stale facts for the rest of the TTL."""
from __future__ import annotations

import pytest

from clients.bitrix24_errors import Bitrix24Error
from mappers.invoice import PortalFacts
from store.models import Portal
from workers.b24_writes import command_reason
from workers.facts_cache import FactsCache

FACTS = PortalFacts(currencies=frozenset({"USD"}), base_currency="USD", category_id=None,
                    person_type_ids={"company": "1", "contact": "2"}, pay_system_ids={"company": "1", "contact": "1"})


@pytest.fixture


def cache(monkeypatch) -> tuple[FactsCache, list[int]]:
    reads: list[int] = []

    def read(client, use_new_invoice):
        reads.append(1)
        return FACTS, [{"STATUS_ID": "N", "NAME": "New"}]

    monkeypatch.setattr("workers.facts_cache.read_facts_and_stages", read)
    held = FactsCache(None, Portal(member_id="facts-cache-test", install_id="i1"))
    held.drop()
    held.facts(None, False)
    return held, reads


def failure(reason: str) -> dict:
    return {"qbo_type": "Invoice", "qbo_id": "7", "reason": reason}


@pytest.mark.parametrize("reason", [
    # sandbox/bitrix24/invoices.py words the classic refusals so; CCrmInvoice::CheckFields (UNCERTAIN wording)
    command_reason(Bitrix24Error("", "Invalid PAY_SYSTEM_ID.", 400), "create", "invoice"),
    command_reason(Bitrix24Error("", "Invalid PERSON_TYPE_ID.", 400), "update", "invoice"),
    # mappers/invoice.py, when the cached facts hold no payer type or pay system (set up since)
    "The portal has no payer type or payment system for old invoices; set up invoices in Bitrix24 "
    "(CRM > Settings > Payment systems) or switch on Use new invoice.",
])


def test_a_refused_payer_type_or_pay_system_drops_the_cached_facts(cache, reason):
    held, reads = cache
    assert held.drop_if_stale([failure(reason)])
    held.facts(None, False)
    assert len(reads) == 2


def test_an_unrelated_failure_keeps_the_cached_facts(cache):
    held, reads = cache
    assert not held.drop_if_stale([failure("The QuickBooks invoice 7 is malformed: Line. Fix it in QuickBooks.")])
    held.facts(None, False)
    assert len(reads) == 1
