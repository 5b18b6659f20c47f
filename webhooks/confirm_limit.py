"""Bound, per client address, the app.info confirmations that unauthenticated requests cause.

Every frame POST (installer, app page, widgets) and every ONAPPINSTALL or early CRM event makes
the app ask a Bitrix24 OAuth server about its token (`frame_auth.confirm_token`): up to one
`app.info` call per configured server, then `user.admin`/`profile` on the portal. Anyone can send
such requests, so without a bound the app would relay a flood to Bitrix24. The bound is a GCRA
bucket per client address (`edge.client_address`), shared by all web processes through Redis when
one is configured (`clients.ratelimit`), in-process otherwise; over it the request is 429 and
nothing is sent anywhere.

The bound, CONFIRM_BURST at once then CONFIRM_RATE per second, is per address and per kind (frame
POSTs and events are counted apart, since events come from Bitrix24's own servers). Opening the
app is one frame POST per user and opening; navigation inside it uses the session and costs
nothing. So a whole office behind one NAT may open the app 60 times at once and once a second
after that, far above what people do, while one address can make the app call Bitrix24 at most
2 × 60 times at once and 2 × 1 per second (two OAuth servers configured by default).

When Redis fails, the bucket falls back to one in-process bucket per web process (logged): refusing
every frame POST would lock every user out of the app for the outage, while an unbounded relay
would let anyone hammer Bitrix24 through it; per-process buckets keep the bound, multiplied by the
number of web processes, until Redis answers again.
"""
from __future__ import annotations

import hashlib
import logging
import math

import redis
from flask import current_app, request
from flask_babel import lazy_gettext as _l

from clients.ratelimit import RateLimiter, RateLimitWait, make_limiter
from webhooks.edge import client_address
from webhooks.errors import PageError
from webhooks.runtime import runtime

log = logging.getLogger("qb24.web.confirm_limit")
CONFIRM_BURST = 60
CONFIRM_RATE = 1.0  # per second, once the burst is spent
TOO_MANY = _l("Too many sign-in checks came from your network in a short time, so this one was not sent "
              "to Bitrix24. Wait a minute, then open the app again from your Bitrix24 portal.")


class TooManyConfirmations(PageError):
    """The client address used up its confirmations (429, with Retry-After)."""

    kind = "rate_limited"

    def __init__(self, retry_after: float) -> None:
        super().__init__(429, TOO_MANY)  # the title: errors.TITLES[429]
        self.retry_after = max(1, math.ceil(retry_after))


def _limiter() -> RateLimiter:
    limiter = current_app.extensions.get("qb24_confirm_limiter")
    if limiter is None:
        limiter = make_limiter(runtime().redis, CONFIRM_RATE, CONFIRM_BURST)
        current_app.extensions["qb24_confirm_limiter"] = limiter
    return limiter


def _fallback_limiter() -> RateLimiter:
    limiter = current_app.extensions.get("qb24_confirm_fallback")
    if limiter is None:
        limiter = current_app.extensions.setdefault("qb24_confirm_fallback",
                                                    make_limiter(None, CONFIRM_RATE, CONFIRM_BURST))
    return limiter


def _deployment() -> str:
    """A short name for this deployment, so that two apps sharing one Redis (a staging beside
    production, or test stacks) never share buckets; its web processes share SECRET_KEY, so one."""
    return hashlib.sha256(b"qb24-confirm\0" + runtime().settings.secret_key.encode()).hexdigest()[:12]


def admit_confirmation() -> None:
    """Take one confirmation from the client address' bucket, or raise TooManyConfirmations."""
    kind = "event" if request.path.startswith("/webhooks/") else "frame"
    address = client_address()
    key = f"b24confirm:{_deployment()}:{kind}:{address}"
    try:
        try:
            _limiter().acquire(key, max_wait=0.0)
        except redis.RedisError as exc:
            log.warning("web.confirm_limit.redis_unavailable", extra={"error": type(exc).__name__})
            _fallback_limiter().acquire(key, max_wait=0.0)
    except RateLimitWait as exc:
        log.warning("web.confirm_limited", extra={"kind": kind, "address": address, "path": request.path})
        raise TooManyConfirmations(exc.retry_after) from None
