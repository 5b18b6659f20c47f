"""Stored failure reasons in the page's language (webhooks/reasons_view.py): every reason template round-trips
(built as the workers store it, shown in German and Russian with its values intact), the sentences the real
producers write are translated with their addenda, and anything no template matches is shown as stored."""
from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po
from flask import Flask

from clients import bitrix24_errors as b24
from clients import quickbooks_errors as qbo
from mappers.reasons import reason
from tests.webhooks.test_translations import po_path
from webhooks.i18n import init_app
from webhooks.reasons_view import compiled, localize_reason
from workers import reasons as R
from workers.b24_writes import REQUIRED_FIELD_ERROR, command_reason
from workers.customer_match import search_refused
from workers.export_errors import describe
from workers.full_sync import fatal_reason

LANGUAGES = ("de", "ru")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.fixture(scope="module")
def app() -> Flask:
    app = Flask(__name__, root_path=str(po_path("de").parents[3]))
    init_app(app)
    return app


def shown(app: Flask, text: str, language: str | None) -> str:
    query = f"/?LANG={language}" if language else "/"
    with app.test_request_context(query):
        return localize_reason(text)


def catalog(language: str) -> dict[str, str]:
    with open(po_path(language), "rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id}


def sample_values(template: str) -> dict[str, str]:
    """A value per placeholder, as a vendor might word it: regex metacharacters, a non-ASCII letter, no words of
    the template around it."""
    return {name: f"«{name} (x.*+?) Ü[1]»" for name in PLACEHOLDER.findall(template)}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", R.TEMPLATES)
def test_every_template_round_trips_with_its_values(app, template, language):
    values = sample_values(template)
    stored = reason(template, **values)
    translated = catalog(language)[template]
    assert shown(app, stored, language) == translated % values
    assert translated != template and all(value in shown(app, stored, language) for value in values.values())


@pytest.mark.parametrize("template", R.TEMPLATES)
def test_no_other_template_claims_a_templates_sentence(template):
    stored = reason(template, **sample_values(template))
    assert [t for t in R.TEMPLATES if compiled(t).match(stored)] == [template]


@pytest.mark.parametrize("template", R.TEMPLATES)
def test_english_pages_show_the_stored_text(app, template):
    stored = reason(template, **sample_values(template))
    assert shown(app, stored, None) == stored


def test_an_export_error_with_its_addendum_in_german(app):
    stored = describe(qbo.Throttled("429"))
    assert stored == ("QuickBooks asked the app to slow down (too many requests). It is tried again automatically; "
                      "Retry tries it now.")
    assert shown(app, stored, "de") == ("QuickBooks hat die App gebeten, langsamer zu werden (zu viele Anfragen). "
                                        "Es wird automatisch erneut versucht; „Erneut versuchen“ versucht es sofort.")


def test_a_quickbooks_fault_keeps_its_own_words(app):
    fault = qbo.DuplicateName("Duplicate Name Exists Error", code="6240",
                              detail="The name supplied already exists. : Amy's (Bird) [Sanctuary] $1.*")
    stored = describe(fault)
    assert stored == "QuickBooks refused the name: The name supplied already exists. : Amy's (Bird) [Sanctuary] $1.*."
    assert shown(app, stored, "de") == (
        "QuickBooks hat den Namen abgelehnt: The name supplied already exists. : Amy's (Bird) [Sanctuary] $1.*.")
    assert shown(app, stored, "ru") == (
        "QuickBooks отклонил имя: The name supplied already exists. : Amy's (Bird) [Sanctuary] $1.*.")


def test_a_refused_write_names_the_record_kind_in_the_language(app):
    refused = b24.Bitrix24Error("ERROR_CORE", "Field TITLE is too long")
    stored = command_reason(refused, "create", "company's contact person")
    assert shown(app, stored, "de") == (
        "Bitrix24 hat das Anlegen abgelehnt (Kontaktperson des Unternehmens): Field TITLE is too long (ERROR_CORE). "
        "Korrigieren Sie den Datensatz in QuickBooks oder im Portal und starten Sie die Synchronisierung erneut.")
    required = command_reason(b24.Bitrix24Error(REQUIRED_FIELD_ERROR, "Required: UF_CRM_1"), "update", "invoice")
    ru = shown(app, required, "ru")
    assert ru.startswith("Bitrix24 отказался обновить запись (счёт): Required: UF_CRM_1 (CRM_FIELD_ERROR_REQUIRED). ")
    assert ru.endswith(catalog("ru")[R.REQUIRED_FIELD_ADVICE])


def test_a_refused_search_repeats_its_kind(app):
    stored = search_refused(b24.Bitrix24Error("ACCESS_DENIED", "Access denied."), "contact")
    assert shown(app, stored, "de") == catalog("de")[R.SEARCH_REFUSED] % {"kind": "Kontakt",
                                                                           "said": "Access denied (ACCESS_DENIED)"}


def test_what_stopped_a_run(app):
    stored = fatal_reason(qbo.AuthorizationRevoked("invalid_grant"))
    assert shown(app, stored, "ru") == catalog("ru")[R.QBO_AUTHORIZATION_GONE]


@pytest.mark.parametrize("text", [
    "Currency EUR is not in this portal; add it in CRM settings, then retry.",  # no template
    "Business Validation Error: (.*) [a-z]+ $^ \\d",  # a vendor's text with regex metacharacters
    "An older sentence. It is tried again automatically; Retry tries it now.",  # an unknown head: not half-translated
    "QuickBooks refused the name",  # a template's words without its shape
    "",
])
@pytest.mark.parametrize("language", LANGUAGES)
def test_text_no_template_matches_is_shown_as_stored(app, text, language):
    assert shown(app, text, language) == text


def test_none_is_shown_as_nothing(app):
    assert shown(app, None, "de") == ""
