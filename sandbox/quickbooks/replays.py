"""`requestid` idempotency: the first answer to a requestid is replayed, and only one request runs it.

Intuit's requestid post (blogs.intuit.com 2015-04-06, reference §6): a request repeated with the same
requestid gets the first one's response and is not executed again. A retry can overlap the first attempt
(a client timeout while the server is still working), so the key is reserved when the first request starts;
a second arrival waits for that answer — at most `Settings.requestid_wait_ms` — and replays it.
"""
from __future__ import annotations

import threading
import time

from flask import Response, g, request

from . import faults
from .context import sandbox

Key = tuple[str, str, str]
Answer = tuple[int, bytes, dict[str, str]]


def replay_key(realm_id: str) -> Key | None:
    """(realm, path, requestid) when the call carries a requestid."""
    request_id = request.args.get("requestid")
    return (realm_id, request.path, request_id) if request_id else None


def claim(realm_id: str) -> Response | faults.ApiFault | None:
    """The remembered answer to replay, None when this request runs (its key reserved), or a 503 fault.

    UNCERTAIN what QuickBooks answers a duplicate that is still waiting when the first attempt outlasts
    the wait (default 120 s, the reference's request timeout): the retryable 10000 SystemFault with 503.
    """
    key = replay_key(realm_id)
    if key is None:
        return None
    state = sandbox().state
    deadline = time.monotonic() + state.settings.requestid_wait_ms / 1000
    while True:
        with state.lock:
            answer = state.replays.get(key)
            if answer is not None:
                status, body, headers = answer
                return Response(body, status=status, headers=headers)
            running = state.pending.get(key)
            if running is None:
                state.pending[key] = threading.Event()
                g.qbo_reserved = key
                return None
        # The first attempt ends (answered or failed) by setting the event; then look again.
        if not running.wait(max(0.0, deadline - time.monotonic())):
            return faults.system_fault(503)


def remember(response: Response) -> None:
    """Keep the answer of the request that holds the key, unless a retry should run it again.

    A throttled (429) or failed (5xx) call was not processed, so it is not the answer to replay.
    """
    key = g.get("qbo_reserved")
    status = response.status_code
    if key is None or status >= 500 or status == 429 or response.direct_passthrough:
        return
    state = sandbox().state
    with state.lock:
        state.replays.setdefault(key, (response.status_code, response.get_data(),
                                       {"Content-Type": response.content_type}))


def release() -> None:
    """Give the key up at the end of the request that reserved it and wake whoever waits for it."""
    key = g.pop("qbo_reserved", None)
    if key is None:
        return
    state = sandbox().state
    with state.lock:
        running = state.pending.pop(key, None)
    if running is not None:
        running.set()
