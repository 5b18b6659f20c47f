"""The portal facts and invoice stages cached per portal for real-time pulls (workers/change_apply.py).

Reading them costs a batch plus, for Smart Invoices, crm.status.list: two of the standard plan's 2
requests a second, on every pull. They change rarely (an admin adds a currency or edits the invoice
stages), so a pull reuses them for TTL_S; the full sync still reads them fresh at its start. Dropped
when a write is refused naming a stage, currency, category, payer type or pay system (the portal changed
under us: the next pull reads them again) and when the portal's settings are saved. In Redis when the process has one
(REDIS_URL: every worker process and machine shares it), else in process memory. Keyed by the portal's
member_id and install_id: a reinstalled portal never reads its previous install's facts.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import asdict
from typing import Any

import redis

from clients.bitrix24 import Bitrix24Client
from mappers.invoice import PortalFacts
from store.models import Portal
from workers.portal_facts import read_facts_and_stages

log = logging.getLogger("qb24.facts_cache")
TTL_S = 600
KEY = "qb24:portal_facts:{portal}:{kind}"
# A failure whose reason names one of these means the cached facts may be stale (mappers/invoice.py's
# MappingErrors, Bitrix24's refusals of an unknown stageId / STATUS_ID / CURRENCY_ID / categoryId, and of an
# old invoice's PERSON_TYPE_ID / PAY_SYSTEM_ID: an admin may remove a pay system, which the cache still holds).
STALE = re.compile(r"stage|status_id|currenc|categor|person_type|pay_system|payer type|payment system",
                   re.IGNORECASE)
KINDS = ("smart_invoice", "invoice")

_memory: dict[str, tuple[float, str]] = {}
_memory_lock = threading.Lock()


class FactsCache:
    """get-or-read, and drop, of one portal's facts; `client` None keeps them in this process."""

    def __init__(self, client: redis.Redis | None, portal: Portal, ttl_s: float = TTL_S) -> None:
        self.client, self.ttl_s = client, ttl_s
        self.portal = f"{portal.member_id}:{portal.install_id or ''}"

    def facts(self, b24: Bitrix24Client, use_new_invoice: bool) -> tuple[PortalFacts, list[dict[str, Any]]]:
        """The cached facts and stages, or read from Bitrix24 (and cached) when absent or expired."""
        key = KEY.format(portal=self.portal, kind=KINDS[0] if use_new_invoice else KINDS[1])
        held = self._get(key)
        if held is not None:
            return held
        facts, stages = read_facts_and_stages(b24, use_new_invoice)
        self._put(key, json.dumps({"facts": {**asdict(facts), "currencies": sorted(facts.currencies)},
                                   "stages": stages}))
        return facts, stages

    def drop(self) -> None:
        keys = [KEY.format(portal=self.portal, kind=kind) for kind in KINDS]
        try:
            if self.client is not None:
                self.client.delete(*keys)
                return
        except redis.RedisError:  # the TTL ends it; logged, as the next pulls may map with stale facts
            log.warning("facts_cache.drop_failed", exc_info=True)
        with _memory_lock:
            for key in keys:
                _memory.pop(key, None)

    def drop_if_stale(self, failures: list[dict[str, Any]]) -> bool:
        """Drop the portal's facts when a failure's reason names a stage, currency or category."""
        if any(STALE.search(str(f.get("reason") or "")) for f in failures):
            log.info("facts_cache.dropped", extra={"portal": self.portal.split(":")[0]})
            self.drop()
            return True
        return False

    def _get(self, key: str) -> tuple[PortalFacts, list[dict[str, Any]]] | None:
        text = None
        if self.client is not None:
            try:
                text = self.client.get(key)
            except redis.RedisError:  # read fresh: the cache is an economy, never a dependency
                log.warning("facts_cache.get_failed", exc_info=True)
        else:
            with _memory_lock:
                expires, text = _memory.get(key, (0.0, None))
                text = text if expires > time.monotonic() else None
        if text is None:
            return None
        held = json.loads(text)
        facts = held["facts"]
        return PortalFacts(**{**facts, "currencies": frozenset(facts["currencies"])}), held["stages"]

    def _put(self, key: str, text: str) -> None:
        if self.client is None:
            with _memory_lock:
                _memory[key] = (time.monotonic() + self.ttl_s, text)
            return
        try:
            self.client.set(key, text, ex=int(self.ttl_s))
        except redis.RedisError:
            log.warning("facts_cache.put_failed", exc_info=True)
