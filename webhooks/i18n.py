"""The app's language: Flask-Babel message catalogs (webhooks/translations), chosen per request.

Bitrix24 opens the app frame with the user's UI language in the query (`LANG`, reference
bitrix24.md §3 and the placement call); it is kept in the session, so the frame's later requests
(forms, progress polls) speak it too. The QuickBooks consent runs in a top-level tab that may not
get the frame's cookie: its Log in form carries LANG, and a short-lived cookie (CONSENT_COOKIE, set
by webhooks/connect.py) brings it back with Intuit's redirect. Pages opened outside the frame fall
back on the browser's Accept-Language. The machine routes (/webhooks/*: Bitrix24 events, Intuit's
notifications) always answer in English: their readers are scripts and operators' logs.
Catalogs: `make translations` extracts, updates and compiles them (babel.cfg).
"""
from __future__ import annotations

from datetime import datetime

from flask import Flask, has_request_context, request, session
from flask_babel import Babel, format_datetime, get_locale

from webhooks.reasons_view import localize_reason
from webhooks.script_text import script_text

# English is the source language; every other one has a complete catalog (tests/webhooks/test_translations.py).
LANGUAGES = ("en", "de", "ru")
DEFAULT_LANGUAGE = "en"
SESSION_KEY = "lang"
CONSENT_COOKIE = "qb24_qbo_lang"  # the consent tab's language, beside its state cookie (webhooks/connect.py)
MACHINE_PATHS = "/webhooks/"


def language_of(value: str | None) -> str | None:
    """A supported language for a Bitrix24 LANG or a locale tag ("de", "de-AT", "ru_RU"), else None."""
    if not value:
        return None
    base = value.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def frame_language(value: str | None) -> str | None:
    """The language for a frame's LANG: a supported one as itself, any other Bitrix24 language ("ua", "br",
    "la", "sc", "tc", … — b24restdocs api-reference/sale/status-lang/index.md lists them) English; None
    without a LANG. Not the browser's: the portal user chose the frame's language in Bitrix24."""
    if value is None or not value.strip():
        return None
    return language_of(value) or DEFAULT_LANGUAGE


def remember_language(value: str | None) -> None:
    """Keep a frame request's LANG for the session's later requests (a form POST carries none)."""
    language = frame_language(value)
    if language is not None:
        session[SESSION_KEY] = language


def select_language() -> str:
    """The request's language: its LANG, then the consent tab's, then the session's, then the
    browser's, then English. English outside a request (a check run by hand or by a test) and on
    the machine routes, whose JSON errors are read by scripts, whatever Accept-Language they send."""
    if not has_request_context() or request.path.startswith(MACHINE_PATHS):
        return DEFAULT_LANGUAGE
    return (frame_language(request.args.get("LANG")) or language_of(request.cookies.get(CONSENT_COOKIE))
            or language_of(session.get(SESSION_KEY))
            or request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE)


def current_language() -> str:
    """The language the response speaks ("en" outside a request), for `<html lang>`."""
    return str(get_locale() or DEFAULT_LANGUAGE)


def instant(value: datetime | None) -> str:
    """An instant as the page shows it: the language's date and time, in UTC (the page knows no user's zone)."""
    return "" if value is None else f"{format_datetime(value, 'medium')} UTC"


def init_app(app: Flask) -> None:
    """Install gettext in Jinja (with Flask-Babel's format filters), the language selector, `instant`, `reason`
    (a stored failure reason in the page's language, webhooks/reasons_view.py) and the script's words
    (`script_text`, base.html)."""
    Babel(app, locale_selector=select_language, default_translation_directories="translations")
    app.jinja_env.filters["instant"] = instant
    app.jinja_env.filters["reason"] = localize_reason
    app.jinja_env.globals["script_text"] = script_text
    app.context_processor(lambda: {"current_language": current_language()})
