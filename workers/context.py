"""The service objects a process needs (web requests and Celery tasks alike), built from settings.

One `Services` per process and settings: it owns the database sessions, Redis, and the pieces
that must be shared by everything in the process: the locks, the Bitrix24 bucket and the
QuickBooks gate. In the embedded mode they are in-process objects, so a second copy would be a
second, independent limit (and a token refresh racing the first): the web app and its embedded
worker use the same `Services`. No Flask here: the worker builds it without an app.
"""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import redis
from sqlalchemy.orm import Session, sessionmaker

from clients.bitrix24 import Bitrix24Client
from clients.bitrix24_auth import PLANS, AppCredentials
from clients.coordination import Locks, locks_for
from clients.quickbooks import QuickBooksClient
from clients.quickbooks_auth import QboApp, QboOAuth, RealmTokens
from clients.quickbooks_limits import QboGate
from clients.quickbooks_transport import DEFAULT_TIMEOUT, PRODUCTION_API, QUICK_TIMEOUT, SANDBOX_API
from clients.ratelimit import RateLimiter, make_limiter
from config.settings import Settings
from store.crypto import TokenCipher
from store.db import make_engine, make_session_factory
from store.tokens import SqlPortalTokens, SqlRealmTokens

if TYPE_CHECKING:
    from workers.celery_app import Qb24Celery
    from workers.task_metrics import TaskMetrics

QUICK_GATE_WAIT_S = 2.0  # a request's QuickBooks call waits this long for the realm's limits (RateLimitWait)


class Services:
    """Settings, sessions, Redis and the process-wide clients' parts, built once."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], redis_client: redis.Redis | None) -> None:
        self.settings, self.sessions, self.redis = settings, sessions, redis_client

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        client = redis.Redis.from_url(settings.redis_url) if settings.redis_url else None
        return cls(settings, make_session_factory(make_engine(settings.database_url)), client)

    @cached_property
    def locks(self) -> Locks:
        return locks_for(self.redis)

    @cached_property
    def b24_limiter(self) -> RateLimiter:
        # The basic plan's bucket is the safe assumption until the portal's plan is known.
        plan = PLANS["basic"].client_side()
        return make_limiter(self.redis, plan.rate, plan.burst)

    @cached_property
    def qbo_gate(self) -> QboGate:
        return QboGate(self.redis)

    @cached_property
    def task_metrics(self) -> TaskMetrics:
        """Where this process's Celery task ends are counted for /metrics: Redis, or (embedded) this process."""
        from workers.task_metrics import task_metrics_for

        return task_metrics_for(self.redis)

    @cached_property
    def celery(self) -> Qb24Celery:
        """The Celery app whose tasks run on these services (in the embedded mode, in this process)."""
        from workers.celery_app import make_celery

        return make_celery(self.settings, services=self)

    def token_cipher(self) -> TokenCipher:
        return TokenCipher(self.settings.token_encryption_key)

    def portal_tokens(self) -> SqlPortalTokens:
        return SqlPortalTokens(self.sessions, self.token_cipher())

    def realm_tokens(self) -> SqlRealmTokens:
        return SqlRealmTokens(self.sessions, self.token_cipher())

    def b24_app(self) -> AppCredentials:
        return AppCredentials(self.settings.b24_client_id, self.settings.b24_client_secret)

    def bitrix24_client(self, member_id: str, *, quick: bool = False) -> Bitrix24Client:
        """The portal's REST client on its stored tokens; `quick` for a request's path: short timeouts,
        no waiting for the rate limit and no retries (the caller decides what an error means)."""
        if quick:
            return Bitrix24Client(member_id, self.portal_tokens(), self.b24_app(), self.locks, self.b24_limiter,
                                  timeout=(2, 5), limit_wait=2.0, retry_budget=0.0)
        return Bitrix24Client(member_id, self.portal_tokens(), self.b24_app(), self.locks, self.b24_limiter,
                              timeout=(5, 30), limit_wait=10.0, retry_budget=20.0)

    def qbo_oauth(self) -> QboOAuth:
        settings = self.settings
        return QboOAuth(QboApp(settings.qbo_client_id, settings.qbo_client_secret, settings.qbo_redirect_uri,
                               settings.qbo_environment))

    def quickbooks_client(self, realm_id: str, tokens: RealmTokens | None = None, *,
                          quick: bool = False) -> QuickBooksClient:
        """A realm's API client (on the stored tokens unless `tokens` is given); `quick` for a request's
        path: short timeouts and a short wait for the realm's limits, as bitrix24_client's."""
        settings = self.settings
        api_base = settings.qbo_api_base or (SANDBOX_API if settings.qbo_environment == "sandbox" else PRODUCTION_API)
        gate = (lambda realm: self.qbo_gate(realm, QUICK_GATE_WAIT_S)) if quick else self.qbo_gate
        return QuickBooksClient(realm_id, tokens=tokens or self.realm_tokens(), oauth=self.qbo_oauth(),
                                locks=self.locks, api_base=api_base, gate=gate,
                                timeout=QUICK_TIMEOUT if quick else DEFAULT_TIMEOUT)

    def close(self) -> None:
        """Stop this process's embedded worker, if one was started, and release the database."""
        if "celery" in self.__dict__:
            self.celery.stop_embedded_worker()
        self.sessions.kw["bind"].dispose()
