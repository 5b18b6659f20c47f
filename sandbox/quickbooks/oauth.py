"""Intuit's OAuth 2 endpoints: discovery document, consent page, token and revoke endpoints."""
from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from html import escape
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request

from .context import sandbox
from .faults import intuit_tid
from .grants import App, InvalidGrant, TokenSet

oauth = Blueprint("qbo_oauth", __name__)
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
CONSENT_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state")


def _base() -> str:
    """Absolute base URL from the request's host, so the app works on any port."""
    return request.host_url.rstrip("/")


@oauth.get("/.well-known/openid_configuration")
@oauth.get("/.well-known/openid_configuration/")
@oauth.get("/.well-known/openid_sandbox_configuration")
@oauth.get("/.well-known/openid_sandbox_configuration/")
def discovery() -> Response:
    """The OpenID discovery document intuitlib's AuthClient fetches in its constructor."""
    base = _base()
    return jsonify({
        "issuer": f"{base}/op/v1", "authorization_endpoint": f"{base}/connect/oauth2",
        "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
        "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
        "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke", "jwks_uri": f"{base}/op/v1/jwks",
        "response_types_supported": ["code"], "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile", "address", "phone", ACCOUNTING_SCOPE,
                             "com.intuit.quickbooks.payment"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"]})


@oauth.get("/op/v1/jwks")
def jwks() -> Response:
    """No id_tokens are issued, so the key set is empty."""
    return jsonify({"keys": []})


def _consent_request(values: Mapping[str, str]) -> tuple[dict[str, str], App | None, str | None]:
    """The authorization parameters from a query or the consent form, with their app or what is wrong."""
    params = {name: values.get(name, "") for name in CONSENT_PARAMS}
    return (params, *_authorize_problem(params))


def _problem_page(problem: str) -> Response:
    """A bad client or redirect_uri is shown to the user, never redirected to the unverified URI."""
    return Response(f"<!doctype html><title>Error</title><p>{escape(problem)}</p>", status=400,
                    mimetype="text/html")


def _authorize_problem(params: dict[str, str]) -> tuple[App | None, str | None]:
    """(app, None) when client and redirect_uri are fine, else (None, message)."""
    state = sandbox().state
    with state.lock:
        app = state.grants.apps.get(params.get("client_id", ""))
    if app is None:
        return None, "Unknown client_id."
    if not app.accepts_redirect(params.get("redirect_uri", "")):
        return None, "The redirect_uri is not registered for this app."
    return app, None


def _redirect_error(params: dict[str, str], error: str) -> Response:
    """Send the user back to the app with an OAuth error."""
    query = {"error": error, "state": params.get("state", "")}
    return redirect(f"{params['redirect_uri']}?{urlencode(query)}")


@oauth.get("/connect/oauth2")
def authorize() -> Response:
    """Validate the request, then show the consent page or (auto-approve) redirect with a code."""
    params, app, problem = _consent_request(request.args)
    if problem:
        return _problem_page(problem)
    if params["response_type"] != "code":
        return _redirect_error(params, "unsupported_response_type")
    if ACCOUNTING_SCOPE not in params["scope"].split():
        return _redirect_error(params, "invalid_scope")
    state = sandbox().state
    with state.lock:
        realm_ids = sorted(state.realms)
        auto = state.settings.auto_approve
        chosen = state.settings.auto_approve_realm_id or (realm_ids[0] if realm_ids else None)
    if auto and chosen in realm_ids:
        return _approve(app, params, chosen)
    return Response(_consent_page(params, realm_ids), mimetype="text/html")


def _consent_page(params: dict[str, str], realm_ids: list[str]) -> str:
    """Plain HTML: a company chooser and Connect / Cancel buttons."""
    hidden = "".join(f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in params.items())
    options = "".join(f'<option value="{escape(r)}">Sandbox company {escape(r)}</option>' for r in realm_ids)
    return ("<!doctype html><html><head><title>Connect to QuickBooks (sandbox)</title></head><body>"
            f"<h1>Connect {escape(params['client_id'])} to QuickBooks</h1>"
            f'<form method="post" action="/connect/oauth2">{hidden}'
            f'<label>Company <select name="realm_id">{options}</select></label> '
            '<button type="submit" name="action" value="connect">Connect</button> '
            '<button type="submit" name="action" value="cancel">Cancel</button></form></body></html>')


@oauth.post("/connect/oauth2")
def decide() -> Response:
    """The consent form's answer."""
    params, app, problem = _consent_request(request.form)
    if problem:
        return _problem_page(problem)
    if request.form.get("action") != "connect":
        return _redirect_error(params, "access_denied")
    realm_id = request.form.get("realm_id", "")
    with sandbox().state.lock:
        known = realm_id in sandbox().state.realms
    if not known:
        return Response("Unknown company.", status=400, mimetype="text/html")
    return _approve(app, params, realm_id)


def _approve(app: App, params: dict[str, str], realm_id: str) -> Response:
    """Redirect to the app with code, state and realmId."""
    state = sandbox().state
    with state.lock:
        code = state.grants.issue_code(app, params["redirect_uri"], realm_id, params["scope"], state.now())
    query = urlencode({"code": code, "state": params["state"], "realmId": realm_id})
    return redirect(f"{params['redirect_uri']}?{query}")


def _client() -> App | None:
    """The app authenticated by HTTP Basic, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    with sandbox().state.lock:
        app = sandbox().state.grants.apps.get(client_id)
    return app if app is not None and app.client_secret == secret else None


def _oauth_error(error: str, status: int, description: str | None = None) -> Response:
    """{"error": ...} as Intuit's token endpoint answers."""
    body = {"error": error} if description is None else {"error": error, "error_description": description}
    return Response(json.dumps(body), status=status, mimetype="application/json",
                    headers={"intuit_tid": intuit_tid()})


@oauth.post("/oauth2/v1/tokens/bearer")
def token() -> Response:
    """authorization_code and refresh_token grants."""
    app = _client()
    if app is None:
        return _oauth_error("invalid_client", 401)
    grant_type = request.form.get("grant_type", "")
    if grant_type not in ("authorization_code", "refresh_token"):
        return _oauth_error("unsupported_grant_type", 400)
    state = sandbox().state
    with state.lock:
        ttl = state.settings.access_token_ttl
        try:
            if grant_type == "authorization_code":
                tokens = state.grants.redeem_code(app, request.form.get("code", ""),
                                                  request.form.get("redirect_uri", ""), state.now(), ttl)
            else:
                tokens = state.grants.rotate(app, request.form.get("refresh_token", ""), state.now(), ttl)
        except InvalidGrant:
            state.stats.invalid_grant += 1
            return _oauth_error("invalid_grant", 400)
        state.stats.token_grants[grant_type] += 1
        if grant_type == "refresh_token":
            state.stats.refreshes_per_realm[tokens.realm_id] += 1
    return _token_response(tokens)


def _token_response(tokens: TokenSet) -> Response:
    """Intuit's token response (plus the hard expiry when asked for by header, reference §7)."""
    body: dict[str, object] = {"token_type": "bearer", "expires_in": tokens.expires_in,
                               "refresh_token": tokens.refresh_token,
                               "x_refresh_token_expires_in": tokens.refresh_expires_in,
                               "access_token": tokens.access_token}
    if request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true":
        body["x_refresh_token_hard_expires_in"] = tokens.hard_expires_in
    return Response(json.dumps(body), mimetype="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache", "intuit_tid": intuit_tid()})


@oauth.post("/v2/oauth2/tokens/revoke")
def revoke() -> Response:
    """Revoke the grant behind an access or refresh token (JSON body {"token": ...}); 200 with no body."""
    app = _client()
    if app is None:
        return _oauth_error("invalid_client", 401)
    payload = request.get_json(silent=True, force=True)
    token_value = payload.get("token") if isinstance(payload, dict) else None
    if not isinstance(token_value, str) or not token_value:
        return _oauth_error("invalid_request", 400, "token is required")
    with sandbox().state.lock:
        sandbox().state.grants.revoke(app, token_value)
    # RFC 7009: unknown tokens are not an error; intuitlib only needs a 200.
    return Response(status=200)


@oauth.get("/v1/openid_connect/userinfo")
def userinfo() -> Response:
    """A minimal userinfo answer for a valid bearer token."""
    header = request.headers.get("Authorization", "")
    token_value = header.partition(" ")[2].strip()
    state = sandbox().state
    with state.lock:
        access = state.grants.access.get(token_value)
        grant = state.grants.grants.get(access.grant_id) if access else None
        valid = grant is not None and not grant.revoked and access.expires_at > state.now()
    if not valid:
        return _oauth_error("invalid_token", 401)
    return jsonify({"sub": f"sandbox-user-{grant.realm_id}", "givenName": "Sandbox", "familyName": "User",
                    "email": "sandbox.user@example.com", "emailVerified": True})
