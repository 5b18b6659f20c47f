"""Control API for the outbound webhook senders (one per app)."""
from __future__ import annotations

from dataclasses import asdict

from flask import Response, jsonify, request

from .context import sandbox
from .control import ControlError, json_body, control
from .grants import DEFAULT_CLIENT_ID


MAX_COPIES = 10


def _check_settings(settings: dict) -> None:
    """400 for a format, copy count or switch the sender could not use."""
    if settings.get("format", "legacy") not in ("legacy", "cloudevents"):
        raise ControlError("format must be legacy or cloudevents")
    copies = settings.get("copies", 1)
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise ControlError(f"copies must be a whole number from 1 to {MAX_COPIES}")
    for name in ("duplicate", "out_of_order"):
        if not isinstance(settings.get(name, False), bool):
            raise ControlError(f"{name} must be true or false")


def _client_id(source: dict) -> str:
    """The app the call is about (default app when omitted)."""
    return str(source.get("client_id") or DEFAULT_CLIENT_ID)


@control.post("/webhooks")
def configure_webhooks() -> Response:
    """{client_id?, url, verifier_token, format, aggregation_seconds, retry_scale, copies, duplicate,
    out_of_order, ...}."""
    body = json_body()
    client_id = _client_id(body)
    settings = {k: v for k, v in body.items() if k != "client_id"}
    _check_settings(settings)
    try:
        sender = sandbox().hooks.configure(client_id, settings)
    except TypeError as error:
        raise ControlError(str(error)) from None
    return jsonify({"client_id": client_id, **asdict(sender.config)})


@control.get("/webhooks/deliveries")
def webhook_deliveries() -> Response:
    """Every delivery attempt of an app's sender (?client_id=)."""
    sender = sandbox().hooks.senders.get(_client_id(request.args))
    return jsonify({"deliveries": sender.deliveries() if sender else [],
                    "pending": sender.pending() if sender else 0})


@control.post("/webhooks/flush")
def flush_webhooks() -> Response:
    """Wait (≤ timeout seconds, default 10) until the sender has nothing queued or in flight."""
    body = json_body()
    sender = sandbox().hooks.senders.get(_client_id(body))
    try:
        timeout = float(body.get("timeout", 10))
    except (TypeError, ValueError):
        raise ControlError("timeout must be a number") from None
    done = sender.flush(timeout) if sender else True
    return jsonify({"flushed": done, "pending": sender.pending() if sender else 0})
