"""Control API view of the OAuth grants: which consents are still live at "Intuit" (tests, demo only).

Real Intuit shows a company's connected apps in QuickBooks (My Apps); an app learns that a grant is
dead only when its tokens are refused. Tests need to know that no stray grant was left live without
holding its tokens (a grant the service never stored), so this lists grants without token values.
"""
from __future__ import annotations

from flask import Response, jsonify, request

from .context import sandbox
from .control import control


@control.get("/grants")
def list_grants() -> Response:
    """{"grants": [{grant_id, client_id, realm_id, scope, created_at, revoked}]}; ?client_id= &realm_id= filter."""
    client_id, realm_id = request.args.get("client_id"), request.args.get("realm_id")
    state = sandbox().state
    with state.lock:
        return jsonify({"grants": state.grants.describe(client_id, realm_id)})
