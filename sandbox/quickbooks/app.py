"""QuickBooks Online sandbox: a Flask app that answers like Intuit's OAuth server and Accounting API.

Endpoints (absolute URLs follow the request's host, so any port works):
- OAuth 2: `/.well-known/openid_configuration` (+ `openid_sandbox_configuration`, with or without `/`),
  `/connect/oauth2`, `/oauth2/v1/tokens/bearer`, `/v2/oauth2/tokens/revoke`, `/v1/openid_connect/userinfo`.
- Accounting API: `/v3/company/<realmId>/...` (customer, invoice [+ /pdf, /send], payment, item, term, account,
  companyinfo, preferences, taxcode, taxrate, companycurrency, query, cdc, batch).
- Web screens: `/app/invoice`, `/app/customerdetail` (web.py; the `QBO_WEB_BASE` deep links, reference §9).
- Control API: `/_sandbox/...` — for tests and the demo only; it has no counterpart in QuickBooks and no auth.
State lives in memory, per app instance, guarded by one lock.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from . import control_grants  # noqa: F401  (registers GET /_sandbox/grants on `control`)
from . import control_merge  # noqa: F401  (registers POST /_sandbox/realms/<id>/customers/merge)
from . import control_webhooks  # noqa: F401  (registers the /_sandbox/webhooks routes on `control`)
from . import name_lists  # noqa: F401  (registers /term and /account on `api`)
from . import faults
from .api import api
from .batch import batch
from .catalog import catalog
from .context import EXTENSION_KEY, Sandbox
from .control import control
from .guards import fault_response
from .hooks import WebhookHub
from .oauth import oauth
from .reads import reads
from .store import SandboxState, Settings
from .timefmt import SandboxClock
from .web import web

log = logging.getLogger("qb24.sandbox.quickbooks")


def create_app(*, auto_approve: bool = False, clock: Callable[[], datetime] | None = None) -> Flask:
    """Build a sandbox holding one realm with the sample company."""
    app = Flask(__name__)
    app.json.sort_keys = False
    state = SandboxState(SandboxClock(clock), Settings(auto_approve=auto_approve))
    state.reset()
    app.extensions[EXTENSION_KEY] = Sandbox(state=state, hooks=WebhookHub(state))
    for blueprint in (oauth, api, batch, catalog, reads, control, web):
        app.register_blueprint(blueprint)
    _register_error_handlers(app)
    return app


def _register_error_handlers(app: Flask) -> None:
    """Under /v3 every error is a Fault envelope with `time`, never HTML or a stack trace."""

    @app.errorhandler(faults.ApiFault)
    def _api_fault(error: faults.ApiFault) -> Response:
        return fault_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        if not request.path.startswith("/v3"):
            return jsonify({"error": error.name, "error_description": error.description}), error.code or 500
        if error.code in (404, 405):
            relative = request.full_path.rstrip("?")
            return fault_response(faults.unsupported_operation(relative, request.url))
        if error.code == 400:
            return fault_response(faults.unsupported_property("Request", error.description or "Bad request"))
        return fault_response(faults.system_fault(error.code or 500))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("qbo.sandbox.unexpected_error", extra={"path": request.path})
        if request.path.startswith("/v3"):
            return fault_response(faults.system_fault())
        return jsonify({"error": "server_error"}), 500
