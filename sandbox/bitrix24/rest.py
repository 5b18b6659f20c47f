"""A portal's REST endpoint: parse the call, authenticate, apply limits, dispatch, wrap."""
from __future__ import annotations

import json
import random
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from flask import Request, Response

from sandbox.bitrix24 import limits
from sandbox.bitrix24.errors import RestError, app_context_required, not_found_method, wrong_auth_type
from sandbox.bitrix24.params import php_parse
from sandbox.bitrix24.registry import METHODS, CallContext
from sandbox.bitrix24.staff import refused_for_terminated
from sandbox.bitrix24.state import Portal
from sandbox.bitrix24.write_log import note_write

if TYPE_CHECKING:
    from sandbox.bitrix24.sandbox import Bitrix24Sandbox

# Injected errors by status, as the real portal words them (reference §8 error table; the 503 is the leaky
# bucket's own answer, limits.take_request).
INJECTED_ERRORS = {500: ("INTERNAL_SERVER_ERROR", "Internal server error"),
                   503: ("QUERY_LIMIT_EXCEEDED", "Too many requests")}


def _iso(ts: float) -> str:
    """ISO-8601 with offset, as `date_start`/`date_finish`."""
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).astimezone().isoformat()


def time_block(start: float, finish: float, operating: float | None = None,
               reset_at: int | None = None) -> dict:
    """The `time` block of every answer (DOCS data-types.md#time)."""
    block = {"start": start, "finish": finish, "duration": finish - start,
             "processing": finish - start, "date_start": _iso(start), "date_finish": _iso(finish)}
    if operating is not None:
        block["operating"] = operating
        block["operating_reset_at"] = reset_at
    return block


def json_response(body: dict, status: int = 200) -> Response:
    """JSON with the slashes escaped as PHP's json_encode does."""
    text = json.dumps(body, ensure_ascii=True).replace("/", "\\/")
    return Response(text, status=status, content_type="application/json; charset=utf-8",
                    headers={"Access-Control-Allow-Origin": "*"})


def read_params(request: Request) -> dict:
    """Merge query-string and body params (JSON or form, PHP bracket notation)."""
    params = php_parse(request.args.items(multi=True))
    raw = request.get_data(cache=True)
    if request.mimetype == "application/json" and raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            # Real portals' answer to unparsable JSON is undocumented; the sandbox says 400.
            raise RestError(400, "INVALID_REQUEST", "Invalid JSON in the request body") from None
        if not isinstance(body, dict):
            raise RestError(400, "INVALID_REQUEST", "The JSON body must be an object")
        params.update(body)
    elif request.form:
        params.update(php_parse(request.form.items(multi=True)))
    return params


def split_path(path: str) -> tuple[str, tuple[int, str] | None]:
    """`crm.contact.add.json` or `1/abc/crm.contact.add` -> (method, webhook key)."""
    parts = [p for p in path.split("/") if p]
    webhook = None
    if len(parts) == 3 and parts[0].isdigit():
        webhook = (int(parts[0]), parts[1])
        parts = parts[2:]
    if len(parts) != 1:
        raise not_found_method()
    name = parts[0]
    if name.endswith(".json"):
        name = name[: -len(".json")]
    return name.lower(), webhook


def authenticate(sb: "Bitrix24Sandbox", portal: Portal, params: dict,
                 webhook: tuple[int, str] | None) -> CallContext:
    """Resolve `auth` or a webhook path into a call context (401s as documented)."""
    state = sb.state
    if webhook is not None:
        scope = portal.webhooks.get(webhook)
        if scope is None:
            raise RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
        return CallContext(state, sb.sender, portal, None, webhook[0], f"webhook:{webhook[0]}",
                           set(scope.split(",")))
    auth = params.pop("auth", None)
    if not auth or not isinstance(auth, str):
        raise RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
    token = state.tokens.get(auth)
    if token is None or token.member_id != portal.member_id:
        raise RestError(401, "invalid_token", "The access token provided is invalid")
    if token.expires <= time.time():
        raise RestError(401, "expired_token", "The access token provided has expired")
    if refused_for_terminated(state, token):
        raise RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
    return CallContext(state, sb.sender, portal, token, token.user_id, token.client_id,
                       set(token.scope.split(",")))


def call_method(ctx: CallContext, name: str, params: dict) -> tuple[dict, dict]:
    """Run one method (also used by batch): returns (envelope, time block)."""
    spec = METHODS.get(name)
    if spec is None:
        raise not_found_method()
    if spec.app_only and ctx.token is None:
        raise wrong_auth_type() if name.startswith(("placement.", "event.")) else app_context_required()
    if not spec.allows(ctx.scope):
        raise RestError(403, "insufficient_scope",
                        "The request requires higher privileges than provided by the access token")
    ctx.portal.commands[name] = ctx.portal.commands.get(name, 0) + 1
    limits.check_operating(ctx.portal, ctx.caller, name)
    start = time.time()
    envelope = spec.func(ctx, params)
    finish = time.time()
    note_write(ctx.portal, name, params, envelope)
    if name != "batch":  # reference §7: inner calls count for operating time, the batch does not
        limits.charge(ctx.portal, ctx.caller, name, finish - start)
    total, reset_at = limits.operating(ctx.portal, ctx.caller, name)
    return envelope, time_block(start, finish, total, reset_at)


def _count_request(portal: Portal, path: str) -> None:
    """Count one HTTP request under its method name (a path that names none under "?")."""
    try:
        name = split_path(path)[0]
    except RestError:
        name = "?"
    portal.requests[name] = portal.requests.get(name, 0) + 1


def injected_error(status: int) -> RestError:
    """An injected failure in the body the real one has (Limits.error_statuses)."""
    code, description = INJECTED_ERRORS[status]
    return RestError(status, code, description)


def handle(sb: "Bitrix24Sandbox", portal: Portal, path: str, request: Request) -> Response:
    """The whole REST request: faults, bucket, parsing, auth, dispatch."""
    try:
        if portal.limits.latency:
            time.sleep(portal.limits.latency)  # injected fault: a slow portal
        with sb.state.lock:
            _count_request(portal, path)
            limits.take_request(portal)
            if portal.limits.error_rate and random.random() < portal.limits.error_rate:
                raise injected_error(random.choice(portal.limits.error_statuses))
            name, webhook = split_path(path)
            params = read_params(request)
            ctx = authenticate(sb, portal, params, webhook)
            envelope, block = call_method(ctx, name, params)
    except RestError as err:
        return json_response(err.body(), err.status)
    envelope["time"] = block
    return json_response(envelope)
