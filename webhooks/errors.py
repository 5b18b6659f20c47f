"""Clear, plain error pages: every refusal names its reason and never echoes a token."""
from __future__ import annotations

import logging
from html import escape

from flask import Flask, Response, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from store.tokens import RealmTokensUnreadable, StoredTokensUnreadable
from webhooks.metrics import count_error

log = logging.getLogger("qb24.web.errors")


class PageError(Exception):
    """A request refused with `status` and a message the user can act on."""

    kind = "refused"

    def __init__(self, status: int, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.title = title or {400: "Bad request", 401: "Not authorized", 403: "Forbidden",
                               404: "Not found", 409: "Conflict", 429: "Too many requests"}.get(status, "Something went wrong")


def message_page(status: int, title: str, message: str, extra_html: str = "") -> Response:
    """A small self-contained HTML page (no external assets; it may show inside the Bitrix24 frame)."""
    body = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escape(title)}</title>"
            "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;"
            "color:#1f2d3d}h1{font-size:1.3rem}</style></head><body>"
            f"<h1>{escape(title)}</h1><p id='message'>{escape(message)}</p>{extra_html}</body></html>")
    return Response(body, status=status, mimetype="text/html")


def _wants_json() -> bool:
    return request.path.startswith("/webhooks/") or request.accept_mimetypes.best == "application/json"


def _page_error(error: PageError) -> Response:
    count_error(error.kind)
    log.info("web.refused", extra={"path": request.path, "status": error.status, "kind": error.kind})
    if _wants_json():
        response = jsonify({"error": error.kind, "message": error.message})
        response.status_code = error.status
    else:
        response = message_page(error.status, error.title, error.message)
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:  # RFC 9110 §10.2.3: seconds to wait before asking again
        response.headers["Retry-After"] = str(retry_after)
    return response


class SignInUnreadable(PageError):
    """Stored tokens no key of TOKEN_ENCRYPTION_KEY decrypts (docs/deploy.md, key rotation): 409, not a 500."""

    kind = "tokens_unreadable"


def _tokens_unreadable(error: StoredTokensUnreadable) -> Response:
    # Logged where they were read (store/tokens.py), with the portal or realm; here only the way out.
    if isinstance(error, RealmTokensUnreadable):
        message = _("The app can no longer read this portal's QuickBooks sign-in. Log in with QuickBooks again.")
    else:
        message = _("The app can no longer read this portal's Bitrix24 sign-in. "
                    "An administrator should open the app in Bitrix24 again.")
    return _page_error(SignInUnreadable(409, message))


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return error  # type: ignore[return-value]  # Flask's own 404/405 pages
    count_error("unexpected")
    # Logged here, once, with its traceback: Flask logs nothing for an exception a handler answers, nor
    # does gunicorn for a response. The traceback's text may carry a URL with a token in it: the
    # formatters config.logging installs cut queries and secrets from it.
    log.error("web.unexpected", extra={"path": request.path, "error": type(error).__name__}, exc_info=error)
    return message_page(500, "Something went wrong", "The app hit an unexpected error; please try again.")


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(PageError, _page_error)
    app.register_error_handler(StoredTokensUnreadable, _tokens_unreadable)
    app.register_error_handler(Exception, _unexpected)
