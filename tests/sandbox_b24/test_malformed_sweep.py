"""Malformed parameters of the crm.item, userfield, currency, category and system methods: never a 5xx.

Bitrix24 answers a bad parameter with a 400 (or 403/404) and the `{"error", "error_description"}` body
(reference §8 "Method errors ... are 400 or 403"; §6 lists crm.item's INVALID_ARG_VALUE and
CRM_FIELD_ERROR_VALUE_NOT_VALID; §5 the classic methods' empty code), or ignores what it does not use
(unknown fields are silently ignored, reference §5/§6). A 500 from the sandbox is always its own crash.
"""
from __future__ import annotations

from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox_b24.conftest import Portal

BAD = [5, -1, 1.5, True, False, None, "", "x", "nan", "inf", "1e999", [], [1], ["x"], [{"a": 1}], {},
       {"a": 1}, {"0": [1]}, {"language": ["x"]}]
# A valid call per method; each key is then replaced by each BAD value.
BASE: list[tuple[str, dict]] = [
    ("crm.item.list", {"entityTypeId": 31, "select": ["*"], "filter": {">id": 0}, "order": {"id": "ASC"}, "start": 0}),
    ("crm.item.list", {"entityTypeId": 3, "select": ["id", "companyId"], "filter": {"logic": "OR", "0": {"id": 1}},
                       "order": {"name": "DESC"}}),
    ("crm.item.add", {"entityTypeId": 31, "fields": {"title": "T", "opportunity": 5, "categoryId": 5,
                                                     "contactIds": [1], "stageId": "DT31_5:N"}}),
    ("crm.item.add", {"entityTypeId": 4, "fields": {"title": "T", "revenue": 5, "fm": [{"typeId": "EMAIL",
                                                                                         "value": "a@b.co"}]}}),
    ("crm.item.update", {"entityTypeId": 3, "id": 1, "fields": {"name": "N", "companyIds": [1]}}),
    ("crm.item.get", {"entityTypeId": 31, "id": 1, "useOriginalUfNames": "Y"}),
    ("crm.item.fields", {"entityTypeId": 4}),
    ("crm.item.productrow.set", {"ownerType": "SI", "ownerId": 1, "productRows": [
        {"productName": "P", "price": 2, "quantity": 3, "taxRate": 5, "discountTypeId": 1, "sort": 10}]}),
    ("crm.item.productrow.list", {"filter": {"=ownerType": "SI", "=ownerId": 1}}),
    ("userfieldconfig.list", {"moduleId": "crm", "select": {"0": "*", "language": "en"}, "order": {"sort": "ASC"},
                              "filter": {"multiple": "N"}, "start": 0}),
    ("userfieldconfig.add", {"moduleId": "crm", "field": {"entityId": "CRM_SMART_INVOICE", "userTypeId": "string",
                                                          "fieldName": "UF_CRM_SMART_INVOICE_X", "sort": 10}}),
    ("userfieldconfig.get", {"moduleId": "crm", "id": 100}),
    ("userfieldconfig.update", {"moduleId": "crm", "id": 100, "field": {"sort": 5, "mandatory": "Y",
                                                                        "settings": {"SIZE": 5}}}),
    ("crm.contact.userfield.add", {"fields": {"USER_TYPE_ID": "enumeration", "FIELD_NAME": "E", "LIST": [{"VALUE": "a"}],
                                              "SORT": 5, "MANDATORY": "N"}}),
    ("crm.company.userfield.list", {"filter": {"LANG": "en"}, "order": {"SORT": "ASC"}}),
    ("crm.currency.list", {"order": {"SORT": "DESC"}}),
    ("crm.currency.get", {"id": "USD"}),
    ("crm.category.list", {"entityTypeId": 31, "start": 0}),
    ("crm.contact.list", {"select": ["ID", "PHONE"], "filter": {">ID": 0}, "order": {"ID": "ASC"}, "start": 0}),
    ("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["a@b.co"], "entity_type": "CONTACT"}),
    ("server.time", {}), ("scope", {"full": "true"}), ("methods", {"scope": "crm"}), ("user.current", {}),
]


def _variants(base: dict) -> list[dict]:
    """`base` with each parameter, and each key of an object (or first object of a list) parameter, made bad."""
    out = [{**base, key: bad} for key in base for bad in BAD]
    for key, value in base.items():
        inner = value if isinstance(value, dict) else value[0] if isinstance(value, list) and value else None
        if isinstance(inner, dict):
            wrap = (lambda d: d) if isinstance(value, dict) else (lambda d: [d])
            out += [{**base, key: wrap({**inner, name: bad})} for name in inner for bad in BAD]
    return out


CASES = [(method, payload) for method, base in BASE for payload in _variants(base)]


@pytest.fixture
def hook(portal: Portal) -> str:
    """A webhook with every scope the swept methods need, on a portal with one record of each kind."""
    portal.control("settings", {"bucket_size": 1_000_000, "drain_rate": 1_000_000})  # the sweep is not about limits
    url = portal.control("webhooks", {"user_id": 1, "scope": "crm,userfieldconfig,user_brief"}).json()["url"]
    portal.control("seed", {"contacts": [{"NAME": "C"}], "companies": [{"TITLE": "Co"}],
                            "smart_invoices": [{"title": "I"}]})
    requests.post(f"{url}userfieldconfig.add.json", json=BASE[10][1], timeout=10)
    return url


def _no_crash(hook: str, method: str, payload: Any) -> None:
    response = requests.post(f"{hook}{method}.json", json=payload, timeout=10)
    assert response.status_code < 500, f"{method} {payload!r}: {response.status_code} {response.text[:300]}"
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str) and isinstance(body.get("error_description"), str), body
    else:
        assert "result" in body and "error" not in body, body


def test_every_swept_call_is_answered_without_a_server_error(hook: str) -> None:
    """Each parameter of each valid call, replaced by each malformed value."""
    for method, payload in CASES:
        _no_crash(hook, method, payload)


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=3), max_leaves=8)


@settings(max_examples=150, deadline=None, derandomize=True,  # a fixed sequence: the same cases on every run
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(BASE), key=st.text(max_size=10), value=JSON)
def test_arbitrary_json_in_any_parameter_is_answered_without_a_server_error(hook: str, case: tuple, key: str,
                                                                           value: Any) -> None:
    """Arbitrary JSON under a known or unknown key, and in place of a nested field value."""
    method, base = case
    _no_crash(hook, method, {**base, key: value})
    nested = next((k for k, v in base.items() if isinstance(v, dict)), None)
    if nested:
        _no_crash(hook, method, {**base, nested: {**base[nested], key: value}})
