"""The OAuth server (oauth.bitrix.info stand-in): /oauth/token/ and its own /rest/app.info."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Blueprint, Response, request

from sandbox.bitrix24.params import php_parse
from sandbox.bitrix24.rest import json_response, read_params, time_block
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.staff import refused_for_terminated
from sandbox.bitrix24.state import UNINSTALLED_REFRESH_ERRORS, Token

if TYPE_CHECKING:
    from sandbox.bitrix24.sandbox import Bitrix24Sandbox


def _oauth_error(status: int, code: str, description: str) -> Response:
    """Authorization-server errors: `{"error","error_description"}`."""
    return json_response({"error": code, "error_description": description}, status)


def token_body(sb: "Bitrix24Sandbox", token: Token) -> dict:
    """The documented refresh/code-exchange answer (no application_token)."""
    portal = sb.state.portals[token.member_id]
    return {"access_token": token.access_token, "client_endpoint": f"{portal.url}/rest/",
            "domain": urlsplit(sb.state.oauth_url).netloc, "expires": int(token.expires),
            "expires_in": sb.state.token_lifetime, "member_id": token.member_id,
            "refresh_token": token.refresh_token, "scope": token.scope,
            "server_endpoint": f"{sb.state.oauth_url}/rest/", "status": sb.state.apps[token.client_id].status,
            "user_id": token.user_id}


def _grant(sb: "Bitrix24Sandbox", params: dict) -> Response:
    """Check the client, then exchange a code or rotate a refresh token."""
    state = sb.state
    app = state.apps.get(str(params.get("client_id") or ""))
    if app is None or params.get("client_secret") != app.client_secret:
        return _oauth_error(401, "invalid_client", "Invalid client credentials")
    grant = params.get("grant_type")
    if grant == "authorization_code":
        member_id, client_id, expires = state.codes.pop(str(params.get("code") or ""), ("", "", 0.0))
        if client_id != app.client_id or expires < time.time() or member_id not in state.portals:
            return _oauth_error(400, "invalid_grant", "Invalid authorization code")
        return json_response(token_body(sb, state.issue_token(member_id, app.client_id)))
    if grant == "refresh_token":
        refresh_token = str(params.get("refresh_token") or "")
        if state.revoked_refresh.get(refresh_token) == app.client_id:
            # Revoked by the app's uninstall: the answer is the app's `uninstalled_refresh_error` reading.
            status, description = UNINSTALLED_REFRESH_ERRORS[app.switches.uninstalled_refresh_error]
            return _oauth_error(status, app.switches.uninstalled_refresh_error, description)
        old = state.refresh_index.get(refresh_token)
        if (old is None or old.client_id != app.client_id or not old.refresh_valid
                or refused_for_terminated(state, old)):
            return _oauth_error(400, "invalid_grant", "Invalid refresh token")
        # Rotation is undocumented (reference §2): the sandbox issues a new pair and invalidates
        # the used refresh token, the strict reading that makes racing refreshes visible.
        old.refresh_valid = False
        del state.refresh_index[old.refresh_token]
        return json_response(token_body(sb, state.issue_token(old.member_id, app.client_id, old.user_id)))
    return _oauth_error(400, "invalid_request", "Unsupported grant_type")


def server_app_info(sb: "Bitrix24Sandbox", params: dict) -> dict:
    """What a token belongs to, as the OAuth server answers app.info.

    The shape b24pysdk 1.3.2 parses (`schemas/api.py` B24AppInfoResultData / B24AppInfoInstallData):
    `client_id, scope, expires` (ISO 8601 string), `install{installed, version, status, scope, domain,
    uri, client_endpoint, member_id, member_type}`, `user_id` — lower-case keys only.
    UNCERTAIN: `member_type`'s values are undocumented; the sandbox says "B".
    """
    token = sb.state.tokens.get(str(params.get("auth") or ""))
    if token is None:
        raise RestError(401, "invalid_token", "The access token provided is invalid")
    if token.expires <= time.time():
        raise RestError(401, "expired_token", "The access token provided has expired")
    if refused_for_terminated(sb.state, token):
        raise RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")
    portal = sb.state.portals[token.member_id]
    install = portal.installs.get(token.client_id)
    app = sb.state.apps[token.client_id]
    expires = datetime.fromtimestamp(token.expires, timezone.utc).astimezone().isoformat(timespec="seconds")
    return {"client_id": app.client_id, "scope": token.scope, "expires": expires,
            "install": {"installed": bool(install and install.installed), "version": app.version,
                        "status": app.status, "scope": app.scope, "domain": portal.domain, "uri": portal.url,
                        "client_endpoint": f"{portal.url}/rest/", "member_id": portal.member_id,
                        "member_type": "B"},
            "user_id": token.user_id}


def oauth_blueprint(sb: "Bitrix24Sandbox") -> Blueprint:
    """Routes of the OAuth server."""
    bp = Blueprint("oauth", __name__)

    @bp.route("/oauth/token/", methods=["GET", "POST"])
    def token() -> Response:
        params = php_parse(request.args.items(multi=True))
        params.update(php_parse(request.form.items(multi=True)))
        with sb.state.lock:
            return _grant(sb, params)

    @bp.route("/rest/app.info", methods=["GET", "POST"])
    @bp.route("/rest/app.info/", methods=["GET", "POST"])
    @bp.route("/rest/app.info.json", methods=["GET", "POST"])
    def app_info() -> Response:
        start = time.time()
        try:
            with sb.state.lock:
                result = server_app_info(sb, read_params(request))
        except RestError as err:
            return json_response(err.body(), err.status)
        return json_response({"result": result, "time": time_block(start, time.time())})

    return bp
