"""What runs around every /v3 call: bearer auth, throttling, requestid replay (replays.py), injected
latency/errors."""
from __future__ import annotations

import json
import random
import time
from typing import Any

from flask import Response, g, request

from . import faults, replays
from .context import sandbox
from .grants import FOREIGN_REALM
from .timefmt import response_time

WINDOW_SECONDS = 60.0
_random = random.Random()


def fault_response(fault: faults.ApiFault) -> Response:
    """A Fault envelope as a Flask response."""
    response = Response(_dumps(fault.body(sandbox().state.now())), status=fault.status,
                        mimetype="application/json")
    return with_tid(response)


def with_tid(response: Response) -> Response:
    """Add the `intuit_tid` header QuickBooks puts on every /v3 answer."""
    response.headers["intuit_tid"] = faults.intuit_tid()
    return response


def _dumps(body: object) -> str:
    """Compact JSON like QuickBooks."""
    return json.dumps(body, separators=(",", ":"))


def json_response(body: dict, status: int = 200) -> Response:
    """A success body with the envelope `time`."""
    body = {**body, "time": response_time(sandbox().state.now())}
    return with_tid(Response(_dumps(body), status=status, mimetype="application/json"))


def bearer_token() -> str | None:
    """The bearer token of the request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def before_api_request() -> Response | None:
    """Auth → limits → replay → latency/error injection; a Response short-circuits the view."""
    box = sandbox()
    state = box.state
    realm_id = (request.view_args or {}).get("realm_id") or _realm_from_path()
    token = bearer_token()
    with state.lock:
        state.stats.requests += 1
        reason = state.grants.check_access(token, realm_id, state.now()) if token else "Token invalid"
        if reason is None and realm_id not in state.realms:
            reason = FOREIGN_REALM
        if reason is not None:
            return _auth_refusal(token, reason)
        state.stats.requests_per_realm[realm_id] += 1
        throttled = _over_limits(realm_id)
        if throttled:
            return throttle_response()
        g.qbo_in_flight = realm_id
        latency, error_rate = state.settings.latency_ms, state.settings.error_rate
        error_statuses = list(state.settings.error_statuses)
    replay = replays.claim(realm_id)
    if replay is not None:
        return fault_response(replay) if isinstance(replay, faults.ApiFault) else replay
    if latency:
        time.sleep(latency / 1000)
    if error_rate and _random.random() < error_rate:
        return _injected_error(_random.choice(error_statuses))
    return None


def _injected_error(status: int) -> Response:
    """An injected failure: the throttle answer for 429, a SystemFault for 500/503 (Settings.error_statuses)."""
    state = sandbox().state
    with state.lock:
        state.stats.injected_errors += 1
        if status == 429:
            return throttle_response()
    return fault_response(faults.system_fault(status))


def _auth_refusal(token: str | None, reason: str) -> Response:
    """The gateway's 401, or its 403 for a live token on another company (Settings.foreign_realm_status)."""
    state = sandbox().state
    if reason == FOREIGN_REALM and state.settings.foreign_realm_status == 403:
        body, headers = faults.gateway_403(state.now())
        return Response(body, status=403, headers=headers)
    body, headers = faults.gateway_401(token, reason, state.now())
    return Response(body, status=401, headers=headers)


def throttle_response() -> Response:
    """The 429 answer in the envelope `throttle_body` selects, counted in the stats; caller holds the lock."""
    state = sandbox().state
    state.stats.throttled += 1
    if state.settings.throttle_body == "fault":
        return fault_response(faults.throttled())
    render = faults.gateway_429 if state.settings.throttle_body == "gateway" else faults.throttled_xml
    body, headers = render(state.now())
    return Response(body, status=429, headers=headers)


def _realm_from_path() -> str:
    """/v3/company/<realm>/... even when no route matched."""
    parts = request.path.split("/")
    return parts[3] if len(parts) > 3 else ""


def _over_limits(realm_id: str) -> bool:
    """Per-realm limits (reference §6): requests per rolling minute, concurrent requests (lock held)."""
    state = sandbox().state
    window = rolling_window(state.windows, realm_id)
    if len(window) >= state.settings.rate_per_minute:
        return True
    if state.in_flight[realm_id] >= state.settings.max_concurrent:
        return True
    window.append(state.now().timestamp())
    state.in_flight[realm_id] += 1
    return False


def rolling_window(windows: dict[Any, list[float]], key: Any) -> list[float]:
    """The request times of the last minute under `key`, older ones dropped; caller holds the lock."""
    now = sandbox().state.now().timestamp()
    windows[key] = [stamp for stamp in windows[key] if stamp > now - WINDOW_SECONDS]
    return windows[key]


def after_api_request(response: Response) -> Response:
    """Remember the first answer to a requestid so a retry replays it without writing twice."""
    replays.remember(response)
    return response


def teardown_api_request(_error: BaseException | None) -> None:
    """Release the requestid reservation and the concurrency slot taken in before_api_request."""
    replays.release()
    realm_id = g.pop("qbo_in_flight", None)
    if realm_id:
        state = sandbox().state
        with state.lock:
            state.in_flight[realm_id] = max(0, state.in_flight[realm_id] - 1)
