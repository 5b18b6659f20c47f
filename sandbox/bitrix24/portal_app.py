"""The Flask app of one portal: REST (OAuth and webhook paths) plus the portal pages."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, redirect, request

from sandbox.bitrix24 import rest
from sandbox.bitrix24.pages import pages_blueprint
from sandbox.bitrix24.state import Portal

MOVED_TO = "QB24_PORTAL_MOVED_TO"

if TYPE_CHECKING:
    from sandbox.bitrix24.sandbox import Bitrix24Sandbox


def create_portal_app(sb: "Bitrix24Sandbox", portal: Portal) -> Flask:
    """Routes `/rest/<method>[.json]` and `/rest/<user>/<code>/<method>` plus pages."""
    app = Flask(f"bitrix24_portal_{portal.member_id}")
    app.config[MOVED_TO] = None

    @app.before_request
    def moved() -> Response | None:
        # DOCS change-domen.md: an old portal domain answers 302 to the new one (clients re-POST themselves).
        target = app.config[MOVED_TO]
        if target is None:
            return None
        query = request.query_string.decode("latin-1")
        return redirect(f"{target}{request.path}" + (f"?{query}" if query else ""), code=302)

    @app.route("/rest/<path:path>", methods=["GET", "POST"])
    def rest_call(path: str) -> Response:
        return rest.handle(sb, portal, path, request)

    @app.after_request
    def cors(response: Response) -> Response:
        # Lets BX24.callMethod in the app iframe reach REST from another origin.
        if request.path.startswith("/rest/"):
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        return response

    app.register_blueprint(pages_blueprint(sb, portal))
    return app
