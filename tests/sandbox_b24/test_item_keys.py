"""crm.item field names in either spelling: the controller upper-cases fields, filter, order and select.

Sources: CORE avshatalov48/bitrix24-core-corp modules/crm/lib/controller/item.php (convertKeysToUpper on
fields/filter/order, convertFieldNameFromCamelCaseToUpperCase on select) and modules/crm/lib/service/
converter.php; DOCS api-reference/crm/universal/index.md § Field Naming Conventions ("any field names in
all methods can be passed in either UPPER_CASE or camelCase", the regular/simplified UF table) and
crm-item-get.md (`useOriginalUfNames`).
"""
from __future__ import annotations

import pytest
import requests

from sandbox.bitrix24.item_keys import camel_to_upper, upper_to_camel
from sandbox_b24.conftest import Portal, ok

SI = 31


# DOCS api-reference/crm/universal/index.md: the examples and the UPPER_CASE/camelCase table.
DOC_TABLE = [("ASSIGNED_BY_ID", "assignedById"), ("UF_CRM_10_5186744711", "ufCrm10_5186744711"),
             ("UF_CRM_10_DIGIT", "ufCrm10Digit"), ("UF_CRM_10_DIGIT10", "ufCrm_10_DIGIT10"),
             ("UF_CRM_3_DIGIT", "ufCrm3Digit"), ("UF_CRM_3_1747309727", "ufCrm3_1747309727"),
             ("UF_CRM_3_DIGIT10", "ufCrm_3_DIGIT10"), ("UF_CRM_3_DIGIT_10", "ufCrm_3_DIGIT_10"),
             ("UF_CRM_1747309879", "ufCrm_1747309879"), ("UF_CRM_44_1721812760630", "ufCrm44_1721812760630")]


@pytest.mark.parametrize(("upper", "camel"), DOC_TABLE)
def test_user_field_name_conversion_follows_the_documented_table(upper: str, camel: str) -> None:
    """Both directions of every documented pair (regular and simplified conversion)."""
    assert upper_to_camel(upper) == camel
    assert camel_to_upper(camel) == upper


def test_item_add_and_update_take_upper_case_field_names(portal: Portal) -> None:
    """`TITLE`, `XML_ID`, `OPPORTUNITY` on add and `STAGE_ID` on update work as their camelCase names."""
    added = ok(portal.call("crm.item.add", {"entityTypeId": SI, "fields": {
        "TITLE": "QBO 1042", "XML_ID": "qbo:1042", "OPPORTUNITY": 99.5, "NO_SUCH_FIELD": "x"}}))["result"]["item"]
    assert (added["title"], added["xmlId"], added["opportunity"]) == ("QBO 1042", "qbo:1042", 99.5)
    assert not any(key.isupper() for key in added)  # answers stay camelCase
    updated = ok(portal.call("crm.item.update", {"entityTypeId": SI, "id": added["id"],
                                                  "fields": {"STAGE_ID": "DT31_5:S", "xmlId": "qbo:1042b"}}))
    assert updated["result"]["item"]["stageId"] == "DT31_5:S" and updated["result"]["item"]["xmlId"] == "qbo:1042b"


def test_item_list_takes_upper_case_order_filter_and_select(portal: Portal) -> None:
    """`order[ID]`, `filter[>ID]`, `filter[STAGE_ID]`, `select[]=TITLE` mean `order[id]`, `filter[>id]`, …"""
    ids = portal.control("seed", {"smart_invoices": [{"title": f"K{i}", "stageId": "DT31_5:S" if i % 2 else "DT31_5:N"}
                                                     for i in range(6)]}).json()["smart_invoices"]
    upper = ok(portal.call("crm.item.list", {"entityTypeId": SI, "order": {"ID": "DESC"},
                                              "filter": {">ID": ids[0], "STAGE_ID": "DT31_5:S"}, "select": ["TITLE"]}))
    camel = ok(portal.call("crm.item.list", {"entityTypeId": SI, "order": {"id": "DESC"},
                                              "filter": {">id": ids[0], "stageId": "DT31_5:S"}, "select": ["title"]}))
    assert upper == {**camel, "time": upper["time"]}
    assert upper["result"]["items"] == [{"id": i, "title": f"K{n}"} for n, i in reversed(list(enumerate(ids)))
                                        if n % 2 and i > ids[0]]


def test_item_list_form_body_with_php_brackets(portal: Portal) -> None:
    """A form-encoded `order[ID]=ASC&filter[>ID]=…&start=-1` body (CRest, batch commands) pages by ID."""
    ids = portal.control("seed", {"smart_invoices": [{"title": f"F{i}"} for i in range(3)]}).json()["smart_invoices"]
    response = requests.post(f"{portal.url}/rest/crm.item.list", data={
        "auth": portal.auth, "entityTypeId": SI, "order[ID]": "ASC", "filter[>ID]": ids[0], "start": -1}, timeout=10)
    assert [i["id"] for i in ok(response)["result"]["items"]] == ids[1:]


def test_unknown_upper_case_filter_or_order_field_is_refused(portal: Portal) -> None:
    """An unknown field stays an error in either spelling (crm-item-list.md: INVALID_ARG_VALUE)."""
    for payload in ({"filter": {"NOT_A_FIELD": 1}}, {"order": {"NOT_A_FIELD": "ASC"}}, {"filter": {">=nope": 1}}):
        refused = portal.call("crm.item.list", {"entityTypeId": SI, **payload})
        assert refused.status_code == 400 and refused.json()["error"] == "INVALID_ARG_VALUE"


def test_user_fields_answer_camel_case_unless_original_names_are_asked(portal: Portal) -> None:
    """A UF is written and filtered by `UF_CRM_…` or its camel name; `useOriginalUfNames=Y` answers `UF_CRM_…`."""
    portal.control("seed", {"userfields": [{"entity": "CRM_SMART_INVOICE", "FIELD_NAME": "UF_CRM_SMART_INVOICE_QBO_ID"},
                                           {"entity": "CRM_SMART_INVOICE", "FIELD_NAME": "UF_CRM_1747309879"}]})
    upper = ok(portal.call("crm.item.add", {"entityTypeId": SI, "fields": {
        "title": "U1", "UF_CRM_SMART_INVOICE_QBO_ID": "130", "ufCrm_1747309879": "x"}}))["result"]["item"]
    assert upper["ufCrmSmartInvoiceQboId"] == "130" and upper["ufCrm_1747309879"] == "x"
    assert "UF_CRM_SMART_INVOICE_QBO_ID" not in upper
    listed = ok(portal.call("crm.item.list", {"entityTypeId": SI, "filter": {"=UF_CRM_SMART_INVOICE_QBO_ID": "130"},
                                               "select": ["ufCrmSmartInvoiceQboId"], "useOriginalUfNames": "Y"}))
    assert listed["result"]["items"] == [{"id": upper["id"], "UF_CRM_SMART_INVOICE_QBO_ID": "130"}]
    got = ok(portal.call("crm.item.get", {"entityTypeId": SI, "id": upper["id"], "useOriginalUfNames": "Y"}))
    assert got["result"]["item"]["UF_CRM_1747309879"] == "x" and "ufCrm_1747309879" not in got["result"]["item"]
    fields = ok(portal.call("crm.item.fields", {"entityTypeId": SI}))["result"]["fields"]
    assert fields["ufCrm_1747309879"]["upperName"] == "UF_CRM_1747309879"


def test_batch_command_with_upper_case_order_pages_smart_invoices(portal: Portal) -> None:
    """The fast-paging batch b24pysdk builds (`order[ID]`, `filter[>ID]`, `$result[…][items][49][id]`)."""
    ids = portal.control("seed", {"smart_invoices": [{"title": f"B{i}"} for i in range(55)]}).json()["smart_invoices"]
    page = "crm.item.list?entityTypeId=31&order[ID]=ASC&start=-1&filter[>ID]="
    body = ok(portal.call("batch", {"halt": 0, "cmd": {"1": page + "0", "2": page + "$result[1][items][49][id]"}}))
    result = body["result"]["result"]
    assert [i["id"] for i in result["1"]["items"] + result["2"]["items"]] == ids
    assert body["result"]["result_error"] == []


def test_nested_filter_groups_are_converted_too(portal: Portal) -> None:
    """convertKeysToUpper is recursive: `LOGIC: OR` groups with UPPER_SNAKE keys (crm-item-list.md § filter)."""
    ids = portal.control("seed", {"smart_invoices": [{"title": "G0", "xmlId": "a"}, {"title": "G1", "xmlId": "b"},
                                                     {"title": "G2", "xmlId": "c"}]}).json()["smart_invoices"]
    listed = ok(portal.call("crm.item.list", {"entityTypeId": SI, "filter": {
        "0": {"LOGIC": "OR", "=XML_ID": "a", "=ID": ids[2]}, "!TITLE": "nothing"}, "order": {"ID": "ASC"}}))
    assert [i["id"] for i in listed["result"]["items"]] == [ids[0], ids[2]]
