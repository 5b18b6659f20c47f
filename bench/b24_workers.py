"""What a Bitrix24 worker process needs outside the service, shared by the rate bench and its test.

Spawned children import this module, the client and redis only: nothing of Flask or the sandbox.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict
from datetime import datetime

import redis

from clients.bitrix24_auth import AppCredentials, PortalAuth

# the sandbox's default app (sandbox.bitrix24.state), spelled out to keep the sandbox out of children
APP = AppCredentials("local.qb24sandbox.0000", "qb24-b24-sandbox-secret")


class RedisTokens:
    """PortalTokens shared by processes (the store layer's role in the service), counting saves."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.client, self.key = client, key

    def load(self, member_id: str) -> PortalAuth:
        data = json.loads(self.client.get(f"{self.key}:{member_id}"))
        return PortalAuth(**{**data, "expires_at": datetime.fromisoformat(data["expires_at"])})

    def save(self, auth: PortalAuth) -> None:
        data = {**asdict(auth), "expires_at": auth.expires_at.isoformat()}
        self.client.set(f"{self.key}:{auth.member_id}", json.dumps(data), ex=3600)
        self.client.incr(f"{self.key}:saves")
        self.client.expire(f"{self.key}:saves", 3600)


class StatusCounter(logging.Handler):
    """Counts the HTTP statuses the client logs on `b24.call`."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: Counter[int] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "b24.call":
            self.statuses[record.status] += 1
