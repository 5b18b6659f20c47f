"""Bitrix24 REST client for one portal: calls, batches, ID-paged lists, token refresh, limits.

Every request is a JSON POST to `client_endpoint + method + ".json"` with `auth` in the body.
JSON is accepted by every method (reference §2); PHP-bracket form encoding is only needed inside
batch command strings, which bitrix24_batch builds.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from clients.bitrix24_auth import AppCredentials, PortalAuth, PortalTokens, refresh_auth
from clients.bitrix24_batch import (
    BatchResult, Command, chunk_commands, encode_command, named_commands,
)
from clients.bitrix24_errors import (
    Bitrix24Error, ExpiredToken, InvalidToken, OperationTimeLimit, QueryLimitExceeded, ServerError,
    error_from_body,
)
from clients.coordination import Locks
from clients.ratelimit import RateLimiter, RateLimitWait

log = logging.getLogger(__name__)

PAGE_SIZE = 50  # fixed by Bitrix24 for every list method
REDIRECTS = (301, 302, 307, 308)
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Result:
    """A successful answer: `result` plus the paging and timing members."""

    result: Any
    total: int | None
    next: int | None
    time: dict

    @classmethod
    def from_body(cls, body: dict) -> Result:
        total, nxt = body.get("total"), body.get("next")
        return cls(body.get("result"), None if total is None else int(total),
                   None if nxt is None else int(nxt), body.get("time") or {})


class Bitrix24Client:
    """One portal's REST API, safe to use from many workers at once."""

    def __init__(self, member_id: str, tokens: PortalTokens, app: AppCredentials, locks: Locks,
                 limiter: RateLimiter, session: requests.Session | None = None,
                 timeout: tuple[float, float] = (5, 60), *, limit_wait: float = 30.0,
                 retry_budget: float = 60.0, backoff: tuple[float, float] = (0.5, 8.0),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.member_id, self.tokens, self.app, self.locks, self.limiter = member_id, tokens, app, locks, limiter
        self.session = session or requests.Session()
        self.timeout, self.limit_wait, self.retry_budget = timeout, limit_wait, retry_budget
        self.backoff, self.sleep = backoff, sleep
        self.retries = 0  # limit retries taken, for benchmarks and metrics
        self._auth: PortalAuth | None = None
        self._operating_reset: dict[str, float] = {}

    # -- public API ---------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Result:
        """Call one REST method; raise a Bitrix24Error subclass on an error answer."""
        return Result.from_body(self._request(method, dict(params or {})))

    def batch(self, commands: Mapping[str, Command] | Sequence[Command], halt: bool = False) -> BatchResult:
        """Run commands in batches of ≤ 50; each command's error lands in `.errors[name]`.

        `$result[name][...]` works between commands that end up in one request; commands that
        reference each other are kept together. With `halt`, no further request is sent once one
        command failed, so later commands appear in neither `.results` nor `.errors`.
        """
        named = named_commands(commands)
        encoded = {name: encode_command(method, params) for name, (method, params) in named.items()}
        outcome = BatchResult()
        for chunk in chunk_commands(encoded):
            body = self._request("batch", {"cmd": chunk, "halt": 1 if halt else 0})
            part = BatchResult.from_result(body.get("result"))
            self._note_times({name: named[name][0] for name in part.time if name in named}, part.time)
            outcome.merge(part)
            if halt and part.errors:
                break
        return outcome

    def list_all(self, method: str, params: Mapping[str, Any] | None = None,
                 id_field: str = "ID") -> Iterator[dict]:
        """Every row of a list method, paged by ID (`start=-1`, no COUNT; reference §5).

        crm.item.list answers `{"items": [...]}` with lowercase `id`; it is unwrapped here.
        """
        items_key = "items" if method == "crm.item.list" else None
        if items_key and id_field == "ID":
            id_field = "id"
        query = {**(params or {}), "order": {id_field: "ASC"}, "start": -1}
        select = query.get("select")
        if select and "*" not in select and id_field not in select:
            query["select"] = [*select, id_field]  # paging needs the id of the last row
        row_filter = dict(query.get("filter") or {})
        while True:
            page = self.call(method, {**query, "filter": row_filter}).result
            rows = (page or {}).get(items_key) or [] if items_key else page or []
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            row_filter[f">{id_field}"] = int(rows[-1][id_field])

    # -- one logical request: refresh, limit retries --------------------------------------------

    def _request(self, method: str, params: dict) -> dict:
        started, slept, attempt, refreshed = time.monotonic(), 0.0, 0, False
        auth = self._current_auth()
        while True:
            try:
                return self._send(auth, method, params)
            except (ExpiredToken, InvalidToken):
                if refreshed:
                    raise
                auth, refreshed = self.refresh(auth.access_token), True
            except (QueryLimitExceeded, OperationTimeLimit) as exc:
                if exc.status is None:
                    raise  # our own limiter declined to wait that long: the caller reschedules
                delay = self._retry_delay(exc, method, attempt)
                if max(time.monotonic() - started, slept) + delay > self.retry_budget:
                    exc.retry_after = delay
                    raise
                log.warning("b24.retry", extra={"member_id": self.member_id, "method": method,
                                                "code": exc.code, "delay": round(delay, 3), "attempt": attempt})
                self.retries, attempt, slept = self.retries + 1, attempt + 1, slept + delay
                self.sleep(delay)
            auth = self._auth or auth

    def _retry_delay(self, exc: Bitrix24Error, method: str, attempt: int) -> float:
        reset_at = self._operating_reset.get(method)
        if isinstance(exc, OperationTimeLimit) and reset_at:
            return max(0.5, reset_at - time.time()) + random.uniform(0, 1)
        base, cap = self.backoff
        step = min(cap, base * 2 ** attempt)
        return random.uniform(step / 2, step)  # jitter spreads workers that failed together

    # -- HTTP ------------------------------------------------------------------------------------

    def _send(self, auth: PortalAuth, method: str, params: dict) -> dict:
        url = f"{auth.client_endpoint}{method}.json"
        payload = {**params, "auth": auth.access_token}
        for _ in range(MAX_REDIRECTS + 1):
            response = self._post(url, method, payload)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECTS or not location:
                return self._parse(response, method)
            # a moved portal answers 302; following it could turn the POST into a GET (§2)
            url = urljoin(url, location)
            self._moved(url, method)
        raise ServerError("ERROR_UNEXPECTED_ANSWER", "too many redirects", response.status_code)

    def _post(self, url: str, method: str, payload: dict) -> requests.Response:
        try:
            self.limiter.acquire(f"b24:{self.member_id}", self.limit_wait)
        except RateLimitWait as exc:
            raise QueryLimitExceeded("QUERY_LIMIT_EXCEEDED", "local limiter: wait too long", None,
                                     retry_after=exc.retry_after) from exc
        started = time.monotonic()
        response = self.session.post(url, json=payload, timeout=self.timeout, allow_redirects=False)
        log.info("b24.call", extra={"member_id": self.member_id, "method": method,
                                    "status": response.status_code,
                                    "ms": round((time.monotonic() - started) * 1000, 1)})
        return response

    def _parse(self, response: requests.Response, method: str) -> dict:
        try:
            body = response.json()
        except ValueError:
            raise ServerError("ERROR_UNEXPECTED_ANSWER", f"non-JSON answer: {response.text[:200]!r}",
                              response.status_code) from None
        error = error_from_body(body, response.status_code)
        if error is not None:
            log.info("b24.error", extra={"member_id": self.member_id, "method": method,
                                         "status": response.status_code, "code": error.code})
            raise error
        self._note_times({method: method}, {method: body.get("time") or {}})
        return body

    def _note_times(self, methods: dict[str, str], times: dict[str, Any]) -> None:
        for name, block in times.items():
            if isinstance(block, dict) and block.get("operating_reset_at"):
                self._operating_reset[methods.get(name, name)] = float(block["operating_reset_at"])

    # -- auth state ----------------------------------------------------------------------------------

    def _current_auth(self) -> PortalAuth:
        if self._auth is None:
            self._auth = self.tokens.load(self.member_id)
        if self._auth.expired():
            return self.refresh(self._auth.access_token)
        return self._auth

    def refresh(self, failed_token: str) -> PortalAuth:
        """Rotate the token pair once across all workers; reuse another worker's rotation."""
        # A request's quick client waits no longer for the lock than for its limiter (LockTimeout).
        with self.locks.hold(f"b24-refresh:{self.member_id}", timeout=30, wait=min(30.0, self.limit_wait)):
            stored = self.tokens.load(self.member_id)
            if stored.access_token != failed_token and not stored.expired():
                log.info("b24.refresh.reused", extra={"member_id": self.member_id})
            else:
                stored = refresh_auth(stored, self.app, self.session, self.timeout)
                self.tokens.save(stored)  # before first use: the old refresh token may be dead now
                log.info("b24.refresh", extra={"member_id": self.member_id})
        self._auth = stored
        return stored

    def _moved(self, url: str, method: str) -> None:
        parts = urlsplit(url)
        path = parts.path
        suffix = f"{method}.json"
        base = path[: -len(suffix)] if path.endswith(suffix) else "/rest/"
        endpoint = f"{parts.scheme}://{parts.netloc}{base}"
        with self.locks.hold(f"b24-refresh:{self.member_id}", timeout=30, wait=30):
            stored = self.tokens.load(self.member_id)
            if stored.client_endpoint != endpoint:
                stored = replace(stored, client_endpoint=endpoint, domain=parts.netloc)
                self.tokens.save(stored)
        self._auth = stored
        log.info("b24.domain_moved", extra={"member_id": self.member_id, "domain": parts.netloc})
