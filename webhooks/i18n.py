"""The app's language: Flask-Babel message catalogs (webhooks/translations), chosen per request.

Bitrix24 opens the app frame with the user's UI language in the query (`LANG`, reference
bitrix24.md §3 and the placement call); it is kept in the session, so the frame's later requests
(forms, progress polls) speak it too. Pages opened outside the frame fall back on the browser's
Accept-Language. Catalogs: `make translations` extracts, updates and compiles them (babel.cfg).
"""
from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel, get_locale

# English is the source language; every other one has a complete catalog (tests/webhooks/test_translations.py).
LANGUAGES = ("en", "de", "ru")
DEFAULT_LANGUAGE = "en"
SESSION_KEY = "lang"


def language_of(value: str | None) -> str | None:
    """A supported language for a Bitrix24 LANG or a locale tag ("de", "de-AT", "ru_RU"), else None."""
    if not value:
        return None
    base = value.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def remember_language(value: str | None) -> None:
    """Keep a frame request's LANG for the session's later requests (a form POST carries none)."""
    language = language_of(value)
    if language is not None:
        session[SESSION_KEY] = language


def select_language() -> str:
    """The request's language: its LANG, then the session's, then the browser's, then English."""
    return (language_of(request.args.get("LANG")) or language_of(session.get(SESSION_KEY))
            or request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE)


def init_app(app: Flask) -> None:
    """Install gettext in Jinja and the language selector."""
    Babel(app, locale_selector=select_language, default_translation_directories="translations")
    app.context_processor(lambda: {"current_language": str(get_locale() or DEFAULT_LANGUAGE)})
