"""Batch command encoding, reference-aware chunking, and parsing of documented batch answers."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from clients.bitrix24_batch import BatchResult, chunk_commands, encode_command, named_commands, php_query
from clients.bitrix24_errors import (
    AccessDenied, InsufficientScope, InvalidArgument, NotFound, error_from_body,
)

FIXTURES = Path(__file__).parent / "fixtures" / "bitrix24"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_php_query_flattens_like_http_build_query() -> None:
    query = php_query({"filter": {">ID": 5, "TYPE_ID": ["CLIENT", "PARTNER"]}, "select": ["ID", "NAME"],
                       "params": {"REGISTER_SONET_EVENT": True}, "skip": None, "title": "A&B = c"})
    assert parse_qsl(query) == [("filter[>ID]", "5"), ("filter[TYPE_ID][0]", "CLIENT"),
                                ("filter[TYPE_ID][1]", "PARTNER"), ("select[0]", "ID"), ("select[1]", "NAME"),
                                ("params[REGISTER_SONET_EVENT]", "1"), ("title", "A&B = c")]


def test_result_references_stay_literal() -> None:
    command = encode_command("crm.item.productrow.set", {"ownerType": "SI", "ownerId": "$result[inv][item][id]"})
    assert command == "crm.item.productrow.set?ownerType=SI&ownerId=$result[inv][item][id]"
    assert encode_command("app.info", {}) == "app.info"


def test_lists_are_named_by_position() -> None:
    assert list(named_commands([("a", {}), ("b", {})])) == ["0", "1"]


def test_chunks_hold_fifty_and_keep_referencing_commands_together() -> None:
    encoded = {f"c{i}": "crm.contact.get?id=1" for i in range(45)}
    encoded.update({f"inv{i}": "crm.item.add?entityTypeId=31" for i in range(4)})
    encoded.update({f"rows{i}": f"crm.item.productrow.set?ownerId=$result[inv{i}][item][id]" for i in range(4)})
    chunks = chunk_commands(encoded)
    assert [len(c) for c in chunks] == [49, 4]  # a pair never straddles the 50 boundary
    for i in range(4):
        home = [c for c in chunks if f"inv{i}" in c]
        assert len(home) == 1 and f"rows{i}" in home[0]
    assert sum(len(c) for c in chunks) == 53


def test_a_reference_group_over_fifty_is_refused() -> None:
    encoded = {"c0": "crm.contact.get?id=1"}
    encoded.update({f"c{i}": f"crm.contact.get?id=$result[c{i - 1}][ID]" for i in range(1, 51)})
    with pytest.raises(ValueError):
        chunk_commands(encoded)


def test_documented_success_answer() -> None:
    parsed = BatchResult.from_result(fixture("settings__how-to-call-rest-api__batch__01.json")["result"])
    assert parsed.results["get_user"]["ID"] == "1" and parsed.results["get_department"][0]["NAME"] == "DEMO"
    assert parsed.errors == {} and parsed.total == {"get_department": 1} and parsed.next == {}
    assert set(parsed.time) == {"get_user", "get_department"}


def test_documented_error_answer_gives_typed_errors_per_command() -> None:
    parsed = BatchResult.from_result(fixture("settings__how-to-call-rest-api__batch__02.json")["result"])
    assert parsed.results == {} and set(parsed.errors) == {"get_user", "get_department"}
    assert all(isinstance(e, InsufficientScope) for e in parsed.errors.values())


@pytest.mark.parametrize("name,status,cls", [
    ("api-reference__crm__contacts__crm-contact-list__02.json", 400, AccessDenied),
    ("api-reference__crm__universal__crm-item-list__02.json", 400, InvalidArgument),
    ("api-reference__events__event-bind__02.json", 400, NotFound),
    ("api-reference__crm__universal__crm-item-add__03.json", 400, NotFound),
])
def test_documented_error_bodies_map_to_types(name: str, status: int, cls: type) -> None:
    error = error_from_body(fixture(name), status)
    assert type(error) is cls and error.status == status
