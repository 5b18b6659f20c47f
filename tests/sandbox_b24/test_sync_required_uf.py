"""The "Check required custom fields" option (reference §6): off by default, a switch per portal.

CORE crm/lib/settings/restsettings.php `rest_enable_req_uf_check` (default false); the crm.item controller
and the old crm.invoice REST code skip the mandatory-UF check unless it is on. When on, a record missing a
mandatory user field is refused: DOCS crm-item-batch-import.md `{"error": "CRM_FIELD_ERROR_REQUIRED",
"error_description": "The \"Name\" field is required"}` (the field's title). In a batch the refusal is
that command's result_error; the other commands go on (batch.md).
"""
from __future__ import annotations

from urllib.parse import urlencode

import pytest

from sandbox_b24.conftest import Portal, ok

LABEL = {"en": "QuickBooks tax id"}
CASES = {
    "contact": ("CRM_CONTACT", "UF_CRM_TAX", "crm.contact.add", {"fields": {"NAME": "Ada"}}),
    "company": ("CRM_COMPANY", "UF_CRM_TAX", "crm.company.add", {"fields": {"TITLE": "Acme"}}),
    "smart_invoice": ("CRM_SMART_INVOICE", "UF_CRM_SMART_INVOICE_TAX", "crm.item.add",
                      {"entityTypeId": 31, "fields": {"title": "INV"}}),
    "invoice": ("CRM_INVOICE", "UF_CRM_TAX", "crm.invoice.add",
                {"fields": {"ORDER_TOPIC": "INV", "PERSON_TYPE_ID": "1", "PAY_SYSTEM_ID": "1"}}),
}


def _mandatory(portal: Portal, entity: str, name: str) -> None:
    ok(portal.control("seed", {"userfields": [{"entity": entity, "FIELD_NAME": name, "MANDATORY": "Y",
                                               "EDIT_FORM_LABEL": LABEL}]}))


@pytest.mark.parametrize("kind", list(CASES))
def test_missing_mandatory_field_refused_only_with_the_option_on(portal: Portal, kind: str) -> None:
    entity, name, method, params = CASES[kind]
    _mandatory(portal, entity, name)
    assert portal.control("settings", {}).json()["req_uf_check"] is False  # the documented default
    ok(portal.call(method, params))
    portal.control("settings", {"req_uf_check": True})
    refused = portal.call(method, params)
    assert (refused.status_code, refused.json()) == (400, {
        "error": "CRM_FIELD_ERROR_REQUIRED", "error_description": 'The "QuickBooks tax id" field is required'})
    filled = {**params, "fields": {**params["fields"], name: "T-1"}}
    ok(portal.call(method, filled))
    portal.control("settings", {"req_uf_check": False})
    ok(portal.call(method, params))


@pytest.mark.parametrize("kind", ["contact", "company", "invoice"])
def test_update_of_a_record_without_the_field_is_refused(portal: Portal, kind: str) -> None:
    entity, name, method, params = CASES[kind]
    _mandatory(portal, entity, name)
    record_id = ok(portal.call(method, params))["result"]
    portal.control("settings", {"req_uf_check": True})
    refused = portal.call(method.replace(".add", ".update"), {"id": record_id, "fields": {"COMMENTS": "x"}})
    assert refused.json()["error"] == "CRM_FIELD_ERROR_REQUIRED"


def test_inside_a_batch_only_the_failing_commands_fail(portal: Portal) -> None:
    _mandatory(portal, "CRM_CONTACT", "UF_CRM_TAX")
    portal.control("settings", {"req_uf_check": True})
    cmd = {"bad": "crm.contact.add?" + urlencode({"fields[NAME]": "No tax"}),
           "good": "crm.contact.add?" + urlencode({"fields[NAME]": "Taxed", "fields[UF_CRM_TAX]": "T-1"}),
           "inv": "crm.item.add?" + urlencode({"entityTypeId": 31, "fields[title]": "Free of UFs"})}
    body = ok(portal.call("batch", {"cmd": cmd}))["result"]
    assert body["result_error"] == {"bad": {"error": "CRM_FIELD_ERROR_REQUIRED",
                                            "error_description": 'The "QuickBooks tax id" field is required'}}
    assert sorted(body["result"]) == ["good", "inv"]
    names = [r["NAME"] for r in ok(portal.call("crm.contact.list", {"select": ["NAME"]}))["result"]]
    assert names == ["Taxed"]
