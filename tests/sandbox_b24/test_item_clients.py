"""The real third-party clients page Smart Invoices on the sandbox portal, every item exactly once.

b24pysdk 1.3.2 `as_list_fast()` orders and filters by `ID` (PYSDK api/callers/call_list_fast.py
`_DEFAULT_ID_FIELD = "ID"`) and fast-bitrix24 1.8.14 `get_all()` adds `order: {"ID": "ASC"}` (FB24
user_request.py `add_order_parameter`); both work on real portals because crm.item upper-cases keys
(CORE modules/crm/lib/controller/item.php `convertKeysToUpper`).

b24pysdk hard-codes `https://{domain}/rest` (PYSDK api/callers/call_method.py `_base_url`, reference
§9), so these tests mount a requests transport adapter that carries its calls to the http sandbox.
fast-bitrix24 takes the webhook URL as given (FB24 srh.py `standardize_webhook`), http included.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest
import requests
from b24pysdk import BitrixApp, BitrixToken, BitrixWebhook, Client
from fast_bitrix24 import Bitrix
from requests.adapters import HTTPAdapter

from sandbox_b24.conftest import CLIENT_ID, CLIENT_SECRET, Portal

COUNT = 125  # more than two 50-row pages and a partial third


class PlainHttpAdapter(HTTPAdapter):
    """Sends an `https://` request for the sandbox host over plain http (the sandbox serves no TLS)."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        request.url = "http://" + str(request.url).removeprefix("https://")
        return super().send(request, **kwargs)


@pytest.fixture
def https_bridge(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every requests Session (b24pysdk calls `requests.post`) gets the adapter for the portal's host."""
    original = requests.Session.__init__

    def init(session: requests.Session, *args: Any, **kwargs: Any) -> None:
        original(session, *args, **kwargs)
        session.mount(f"https://{portal.url.split('://', 1)[1]}/", PlainHttpAdapter())

    monkeypatch.setattr(requests.Session, "__init__", init)
    yield


def _seed(portal: Portal) -> list[int]:
    return portal.control("seed", {"smart_invoices": [{"title": f"P{i}"} for i in range(COUNT)]}).json()["smart_invoices"]


def _webhook(portal: Portal) -> str:
    return portal.control("webhooks", {"user_id": 1, "scope": "crm"}).json()["url"]


def _domain(portal: Portal) -> str:
    return portal.url.split("://", 1)[1]


@pytest.mark.usefixtures("https_bridge")
def test_b24pysdk_webhook_as_list_fast_yields_every_smart_invoice_once(portal: Portal) -> None:
    """`Client(BitrixWebhook(...)).crm.item.list(...).as_list_fast()` pages by `ID` through batches."""
    ids = _seed(portal)
    token = _webhook(portal).split("/rest/", 1)[1].rstrip("/")
    client = Client(BitrixWebhook(domain=_domain(portal), webhook_token=token))
    items = list(client.crm.item.list(entity_type_id=31, select=["id", "title"]).as_list_fast().result)
    assert [item["id"] for item in items] == ids
    assert [item["title"] for item in items] == [f"P{i}" for i in range(COUNT)]


@pytest.mark.usefixtures("https_bridge")
def test_b24pysdk_token_client_adds_with_upper_case_names_and_lists_fast(portal: Portal) -> None:
    """An OAuth token client (`auth` in the JSON body); `TITLE`/`XML_ID` on add are kept, not dropped."""
    ids = _seed(portal)
    app = BitrixApp(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    client = Client(BitrixToken(domain=_domain(portal), auth_token=portal.auth, bitrix_app=app))
    added = client.crm.item.add(entity_type_id=31, fields={"TITLE": "QBO 9001", "XML_ID": "qbo:9001"}).result
    assert (added["item"]["title"], added["item"]["xmlId"]) == ("QBO 9001", "qbo:9001")
    items = list(client.crm.item.list(entity_type_id=31, select=["id"]).as_list_fast(descending=True).result)
    assert [item["id"] for item in items] == sorted([*ids, added["item"]["id"]], reverse=True)


def test_fast_bitrix24_get_all_yields_every_smart_invoice_once(portal: Portal) -> None:
    """`Bitrix(webhook).get_all("crm.item.list", …)`: `order[ID]`, `start` offsets, parallel batches."""
    ids = _seed(portal)
    bitrix = Bitrix(_webhook(portal), ssl=False)
    items = bitrix.get_all("crm.item.list", {"entityTypeId": 31, "select": ["id", "title"]})
    assert sorted(item["id"] for item in items) == ids and len(items) == COUNT


def test_fast_bitrix24_get_all_with_upper_case_filter(portal: Portal) -> None:
    """fast-bitrix24 callers write filters the classic way (`>ID`, `STAGE_ID`); crm.item reads them."""
    ids = _seed(portal)
    bitrix = Bitrix(_webhook(portal), ssl=False)
    items = bitrix.get_all("crm.item.list", {"entityTypeId": 31, "filter": {">ID": ids[59], "STAGE_ID": "DT31_5:N"}})
    assert sorted(item["id"] for item in items) == ids[60:]
