"""Error pages, refusals and sentences made in Python speak the Bitrix24 user's language (issue 12 part 5).

The language is the frame's `LANG` (reference bitrix24.md §3, §4: Bitrix24 puts it in the query of every
frame and toolbar POST), then the session's, then the browser's Accept-Language; with none of them the
app speaks English, which is what every other test of the app expects. The machine routes (/webhooks/*)
answer in English whatever the request says. The language does not depend on the store: SQLite only.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from urllib.parse import urlencode, urlsplit

import pytest
import requests

from store.models import QboConnection
from tests.webhooks.test_pages import World, sandboxes, world  # noqa: F401  (fixtures)
from webhooks.bitrix24 import placement_titles
from webhooks.sync_log_view import last_change

HTML_LANG = re.compile(r'<html lang="([^"]+)">')
MESSAGE = re.compile(r"<p id='message'>(.*?)</p>", re.S)
TITLE = re.compile(r"<h1>(.*?)</h1>", re.S)

NOT_A_CARD = {
    "en": "Create QuickBooks invoice works from the toolbar of a contact, company, lead or deal card only; "
          "this request came from somewhere else.",
    "de": "„QuickBooks-Rechnung erstellen“ funktioniert nur aus der Symbolleiste einer Kontakt-, Unternehmens-, "
          "Lead- oder Deal-Karte; diese Anfrage kam von woanders.",
    "ru": "«Создать счёт QuickBooks» работает только с панели карточки контакта, компании, лида или сделки; "
          "этот запрос пришёл из другого места.",
}
BAD_REQUEST = {"en": "Bad request", "de": "Ungültige Anfrage", "ru": "Неверный запрос"}


@pytest.fixture
def database_url(tmp_path) -> Iterator[str]:
    """The language is no business of the store's: one database is enough here."""
    yield f"sqlite:///{tmp_path / 'qb24.db'}"


def page(response) -> tuple[str, str, str]:
    """(html lang, title, message) of a message page."""
    html = response.get_data(as_text=True)
    lang, title, message = HTML_LANG.search(html), TITLE.search(html), MESSAGE.search(html)
    assert lang and title and message, html[:400]
    return lang.group(1), unescape(title.group(1)), unescape(message.group(1))


def toolbar_click(world: World, lang: str | None, headers: dict | None = None, **changes: str):
    """A genuine toolbar POST (the sandbox's frame fields) with `changes`, in `lang` (None: no LANG)."""
    fields = world.frame_fields()
    query = {k: v for k, v in fields["query"].items() if k != "LANG"} | ({"LANG": lang} if lang else {})
    return world.client.post("/placements/create-invoice?" + urlencode(query), data={**fields["form"], **changes},
                             headers=headers or {})


@pytest.mark.parametrize("lang", ["de", "ru"])
def test_a_placement_error_page_speaks_the_cards_language(world, lang):
    response = toolbar_click(world, lang, PLACEMENT="DEFAULT")
    assert response.status_code == 400
    assert page(response) == (lang, BAD_REQUEST[lang], NOT_A_CARD[lang])


def test_without_lang_or_accept_language_the_page_is_english(world):
    response = toolbar_click(world, None, PLACEMENT="DEFAULT")
    assert response.status_code == 400
    assert page(response) == ("en", "Bad request", NOT_A_CARD["en"])
    assert page(toolbar_click(world, "fr", PLACEMENT="DEFAULT")) == ("en", "Bad request", NOT_A_CARD["en"])


def test_the_browsers_language_is_the_fallback(world):
    response = toolbar_click(world, None, {"Accept-Language": "fr-FR, ru;q=0.8, en;q=0.5"}, PLACEMENT="DEFAULT")
    assert page(response) == ("ru", BAD_REQUEST["ru"], NOT_A_CARD["ru"])
    # The frame's LANG wins over the browser's.
    response = toolbar_click(world, "de", {"Accept-Language": "ru"}, PLACEMENT="DEFAULT")
    assert page(response)[0] == "de"


@pytest.mark.parametrize("lang, expected", [
    ("de", "member_id hat nicht die Form, in der Bitrix24 oder QuickBooks es sendet. "
           "Die Anfrage wurde abgelehnt und hat nichts verändert."),
    ("ru", "member_id не в том виде, в котором его отправляют Bitrix24 или QuickBooks. "
           "Запрос отклонён, ничего не изменено."),
])
def test_a_malformed_frame_post_is_refused_in_the_frames_language(world, lang, expected):
    response = world.client.post(f"/bitrix24/app?LANG={lang}", data={"member_id": "not a member id"})
    assert response.status_code == 400
    assert page(response) == (lang, BAD_REQUEST[lang], expected)


def test_machine_routes_answer_in_english_whatever_the_request_says(world):
    response = world.client.post("/webhooks/bitrix24?LANG=de", json={"event": "ONCRMCONTACTADD"},
                                 headers={"Accept-Language": "de"})
    assert response.status_code == 415
    assert response.get_json()["message"] == "Bitrix24 events are sent as application/x-www-form-urlencoded."
    bad = world.client.post("/webhooks/bitrix24?LANG=ru", data={"member_id": "not a member id"},
                            headers={"Accept-Language": "ru"})
    assert bad.status_code == 400 and bad.get_json()["message"].startswith("member_id is not in the form")


def test_the_toolbar_item_is_titled_in_each_language(world):
    with world.app.test_request_context("/bitrix24/install?LANG=ru"):
        assert placement_titles() == {"en": {"TITLE": "Create QuickBooks invoice"},
                                      "de": {"TITLE": "QuickBooks-Rechnung erstellen"},
                                      "ru": {"TITLE": "Создать счёт QuickBooks"}}


@pytest.mark.parametrize("lang, expected", [
    (None, "QuickBooks invoice 130 (1037) was updated in Bitrix24."),
    ("de", "QuickBooks-Rechnung 130 (1037) wurde in Bitrix24 aktualisiert."),
    ("ru", "Счёт QuickBooks 130 (1037) обновлён в Bitrix24."),
])
def test_the_last_change_reads_in_the_pages_language(world, lang, expected):
    connection = QboConnection(last_change={"entity": "Invoice", "qbo_id": "130", "name": "1037", "what": "updated",
                                            "at": "2026-12-01T10:15:30+00:00"})
    with world.app.test_request_context("/bitrix24/app" + (f"?LANG={lang}" if lang else "")):
        assert last_change(connection).sentence == expected


def open_app(world: World, lang: str) -> str:
    """Open the app page as Bitrix24 does for a user whose interface speaks `lang`."""
    fields = world.frame_fields()
    fields["query"] = {**fields["query"], "LANG": lang}
    response = world.open_app(fields)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


@pytest.mark.parametrize("lang, expected", [
    ("de", "Diese App funktioniert nur innerhalb Ihres Bitrix24-Portals."),
    ("ru", "Это приложение работает только внутри вашего портала Bitrix24."),
])
def test_a_frame_post_without_bitrix24s_sign_in_is_refused_in_its_language(world, lang, expected):
    response = world.client.post(f"/bitrix24/app?LANG={lang}", data={})
    assert response.status_code == 400
    html_lang, _title, message = page(response)
    assert html_lang == lang and message.startswith(expected)


@pytest.mark.parametrize("lang, expected", [
    ("de", "Ihre Sitzung ist abgelaufen. Öffnen Sie die App erneut aus Bitrix24."),
    ("ru", "Ваш сеанс истёк. Снова откройте приложение из Bitrix24."),
])
def test_an_expired_session_is_told_in_the_browsers_language(world, lang, expected):
    # A cookie Flask cannot read is no session at all: the browser's language is all there is.
    world.client.set_cookie("qb24_session", "expired.or.tampered")
    response = world.client.get("/bitrix24/app", headers={"Accept-Language": f"{lang},en;q=0.5"})
    assert response.status_code == 401
    assert page(response)[0] == lang and page(response)[2] == expected
    english = world.client.get("/bitrix24/app")
    assert page(english)[0] == "en" and page(english)[2] == "Your session has expired. Open the app again from Bitrix24."


@pytest.mark.parametrize("lang, expected", [
    ("de", "Dieses Formular ist abgelaufen oder stammt nicht aus der App. Laden Sie die App neu und versuchen Sie "
           "es noch einmal."),
    ("ru", "Срок действия этой формы истёк, или она отправлена не из приложения. Обновите приложение и попробуйте "
           "ещё раз."),
])
def test_the_session_remembers_the_frames_language_for_later_requests(world, lang, expected):
    open_app(world, lang)
    # A form POST carries no LANG, and the browser here says English: the session's language wins.
    response = world.client.post("/bitrix24/app/settings", data={"deal_link_hours": "24"},
                                 headers={"Accept-Language": "en"})
    assert response.status_code == 403
    assert page(response) == (lang, {"de": "Zugriff verweigert", "ru": "Доступ запрещён"}[lang], expected)


def consent_in_a_new_tab(world: World, lang: str, tab):
    """Click Log in on the app page opened in `lang`: the form's POST and Intuit's redirect back reach the
    app in `tab`, a browser context without the frame's session cookie (a partitioned or blocked one)."""
    html = open_app(world, lang)
    form = re.search(r'<form method="post" action="([^"]+)" target="qb24-consent"', html)
    assert form and unescape(form.group(1)) == f"/quickbooks/connect?LANG={lang}"
    token = unescape(re.search(r'id="login-token"[^>]*value="([^"]+)"', html).group(1))
    to_consent = tab.post(unescape(form.group(1)), data={"t": token})
    assert to_consent.status_code == 302, to_consent.get_data(as_text=True)[:300]
    consent = requests.get(to_consent.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(consent.headers["Location"])  # the sandbox approves at once
    return tab.get(f"{callback.path}?{callback.query}", headers={"Accept-Language": "en"})


@pytest.mark.parametrize("lang, title, message", [
    ("de", "Kehren Sie zu Bitrix24 zurück, um die Verbindung abzuschließen",
     "QuickBooks hat die Verbindung zu {company} genehmigt."),
    ("ru", "Вернитесь в Bitrix24, чтобы завершить подключение", "QuickBooks одобрил подключение к {company}."),
])
def test_the_consent_tab_speaks_the_frames_language(world, lang, title, message):
    tab = world.app.test_client()
    result = consent_in_a_new_tab(world, lang, tab)
    assert result.status_code == 200
    html_lang, shown_title, shown = page(result)
    assert html_lang == lang and shown_title == title
    assert re.fullmatch(re.escape(message).replace(re.escape("{company}"), ".+") + " .+", shown), shown
    assert "Keep this tab open" not in result.get_data(as_text=True)  # the script's sentences too
    # The page is written: the language cookie goes with the state's.
    assert tab.get_cookie("qb24_qbo_lang", path="/quickbooks/") is None


def test_a_refused_callback_speaks_the_browsers_language_without_the_cookie(world):
    tab = world.app.test_client()
    response = tab.get("/quickbooks/callback?state=forged&code=x&realmId=1", headers={"Accept-Language": "ru"})
    assert response.status_code == 400
    assert page(response) == ("ru", "Неверный запрос", "Этот вход в QuickBooks начат не в этом браузере. "
                                                       "Вернитесь в приложение в Bitrix24 и снова нажмите «Войти».")
