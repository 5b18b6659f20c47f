"""Multi-fields PHONE/EMAIL/WEB on contacts and companies as the first sync writes them.

DOCS api-reference/crm/contacts/crm-contact-update.md § Working with Multiple Fields (reference §5):
an entry without ID is ADDED; {ID, VALUE, VALUE_TYPE} changes it in place; {ID, DELETE:"Y"},
{ID, VALUE:""} and {ID} alone delete it. crm-contact-get.md: rows carry string ID, VALUE_TYPE, VALUE,
TYPE_ID. crm-contact-list.md: `*` leaves multi-fields out, they come only when named in select.
"""
from __future__ import annotations

import pytest

from sandbox_b24.conftest import Portal, ok


def _get(portal: Portal, kind: str, record_id: int) -> dict:
    return ok(portal.call(f"crm.{kind}.get", {"id": record_id}))["result"]


def _add(portal: Portal, kind: str, fields: dict) -> int:
    base = {"NAME": "Ada"} if kind == "contact" else {"TITLE": "Acme"}
    return ok(portal.call(f"crm.{kind}.add", {"fields": {**base, **fields}}))["result"]


@pytest.mark.parametrize("kind", ["contact", "company"])
def test_add_takes_value_and_value_type_and_get_returns_string_rows(portal: Portal, kind: str) -> None:
    record_id = _add(portal, kind, {"PHONE": [{"VALUE": "+1 555 0100", "VALUE_TYPE": "WORK"}],
                                    "EMAIL": [{"VALUE": "a@example.com", "VALUE_TYPE": "HOME"}],
                                    "WEB": [{"VALUE": "https://acme.example", "VALUE_TYPE": "WORK"}]})
    record = _get(portal, kind, record_id)
    for name, value, value_type in (("PHONE", "+1 555 0100", "WORK"), ("EMAIL", "a@example.com", "HOME"),
                                    ("WEB", "https://acme.example", "WORK")):
        [row] = record[name]
        assert set(row) == {"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}
        assert isinstance(row["ID"], str) and row["ID"].isdigit()
        assert (row["VALUE"], row["VALUE_TYPE"], row["TYPE_ID"]) == (value, value_type, name)
    assert (record["HAS_PHONE"], record["HAS_EMAIL"]) == ("Y", "Y")


@pytest.mark.parametrize("kind", ["contact", "company"])
def test_update_adds_changes_and_deletes_by_id(portal: Portal, kind: str) -> None:
    record_id = _add(portal, kind, {"EMAIL": [{"VALUE": f"e{i}@example.com", "VALUE_TYPE": "WORK"}
                                              for i in range(4)],
                                    "PHONE": [{"VALUE": "+15550100", "VALUE_TYPE": "WORK"}]})
    rows = _get(portal, kind, record_id)["EMAIL"]
    ids = [r["ID"] for r in rows]
    ok(portal.call(f"crm.{kind}.update", {"id": record_id, "fields": {"EMAIL": [
        {"ID": ids[0], "VALUE": "changed@example.com", "VALUE_TYPE": "HOME"},
        {"ID": ids[1], "DELETE": "Y"}, {"ID": ids[2], "VALUE": ""}, {"ID": ids[3]},
        {"VALUE": "new@example.com", "VALUE_TYPE": "OTHER"}]}}))
    after = _get(portal, kind, record_id)
    assert [(r["ID"], r["VALUE"], r["VALUE_TYPE"]) for r in after["EMAIL"]][0] == (ids[0], "changed@example.com", "HOME")
    assert [r["VALUE"] for r in after["EMAIL"]] == ["changed@example.com", "new@example.com"]
    assert after["EMAIL"][1]["ID"] not in ids
    assert [r["VALUE"] for r in after["PHONE"]] == ["+15550100"]  # a multi-field not named is untouched


@pytest.mark.parametrize("kind", ["contact", "company"])
def test_update_without_id_appends_a_second_copy(portal: Portal, kind: str) -> None:
    """The classic footgun (reference §5): re-sending the same value without ID duplicates it."""
    record_id = _add(portal, kind, {"PHONE": [{"VALUE": "+15550100", "VALUE_TYPE": "WORK"}]})
    ok(portal.call(f"crm.{kind}.update", {"id": record_id, "fields": {
        "PHONE": [{"VALUE": "+15550100", "VALUE_TYPE": "WORK"}]}}))
    assert [r["VALUE"] for r in _get(portal, kind, record_id)["PHONE"]] == ["+15550100", "+15550100"]


@pytest.mark.parametrize("kind", ["contact", "company"])
def test_list_returns_multifields_only_when_named(portal: Portal, kind: str) -> None:
    _add(portal, kind, {"EMAIL": [{"VALUE": "l@example.com", "VALUE_TYPE": "WORK"}],
                        "PHONE": [{"VALUE": "+15550101", "VALUE_TYPE": "MOBILE"}]})
    [plain] = ok(portal.call(f"crm.{kind}.list", {"select": ["*"]}))["result"]
    assert "EMAIL" not in plain and "PHONE" not in plain
    [default] = ok(portal.call(f"crm.{kind}.list", {}))["result"]
    assert "EMAIL" not in default
    [named] = ok(portal.call(f"crm.{kind}.list", {"select": ["ID", "EMAIL", "PHONE"]}))["result"]
    assert named["EMAIL"][0]["VALUE"] == "l@example.com" and named["PHONE"][0]["VALUE_TYPE"] == "MOBILE"
    assert set(named["EMAIL"][0]) == {"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}
