"""crm.duplicate.findbycomm as the first sync matches customers with (reference §5).

DOCS api-reference/crm/duplicates/crm-duplicate-find-by-comm.md: `type` EMAIL|PHONE, `values` an array
("Maximum number of values — 20"), `entity_type` LEAD|CONTACT|COMPANY, `{"CONTACT":[275,2297]}` or
`"result": []` when nothing is found; "The search does not consider the phone extension"; "If 20 or more
duplicates are found for one object, the other types are not returned"; errors "Communication type is not
defined", "Communication type '{type}' is not supported in current context", "Communication values is not
defined". CORE CCrmDuplicateRestProxy (crm/classes/general/restservice.php): classic 400s with an empty
`error`; values past the 20th are ignored, not refused; each value finds at most 20 records.
"""
from __future__ import annotations

from sandbox_b24.conftest import Portal, ok


def _find(portal: Portal, comm_type: str, values: list, **extra: str) -> object:
    return ok(portal.call("crm.duplicate.findbycomm", {"type": comm_type, "values": values, **extra}))["result"]


def test_found_per_type_and_empty_array_when_nothing(portal: Portal) -> None:
    contact = ok(portal.call("crm.contact.add", {"fields": {"NAME": "Ada", "EMAIL": [
        {"VALUE": "Ada@Example.com", "VALUE_TYPE": "WORK"}]}}))["result"]
    company = ok(portal.call("crm.company.add", {"fields": {"TITLE": "Acme", "EMAIL": [
        {"VALUE": "ada@example.com", "VALUE_TYPE": "WORK"}]}}))["result"]
    assert _find(portal, "EMAIL", [" ADA@example.com "]) == {"CONTACT": [contact], "COMPANY": [company]}
    assert _find(portal, "email", ["ada@example.com"], entity_type="COMPANY") == {"COMPANY": [company]}
    assert _find(portal, "EMAIL", ["nobody@example.com"]) == []


def test_phone_matches_on_digits_and_ignores_the_extension(portal: Portal) -> None:
    contact = ok(portal.call("crm.contact.add", {"fields": {"NAME": "Ada", "PHONE": [
        {"VALUE": "+1 (555) 010-0200 ext. 12", "VALUE_TYPE": "WORK"}]}}))["result"]
    for asked in ("15550100200", "+1-555-010-0200", "+1 555 010 0200 #99"):
        assert _find(portal, "PHONE", [asked]) == {"CONTACT": [contact]}
    assert _find(portal, "PHONE", ["5550100200"]) == []  # digits differ: no partial matching is documented


def test_changed_and_deleted_values_are_found_no_more(portal: Portal) -> None:
    contact = ok(portal.call("crm.contact.add", {"fields": {"NAME": "Ada", "EMAIL": [
        {"VALUE": "old@example.com", "VALUE_TYPE": "WORK"}]}}))["result"]
    [row] = ok(portal.call("crm.contact.get", {"id": contact}))["result"]["EMAIL"]
    ok(portal.call("crm.contact.update", {"id": contact, "fields": {"EMAIL": [
        {"ID": row["ID"], "VALUE": "new@example.com", "VALUE_TYPE": "WORK"}]}}))
    assert _find(portal, "EMAIL", ["old@example.com"]) == []
    assert _find(portal, "EMAIL", ["new@example.com"]) == {"CONTACT": [contact]}
    ok(portal.call("crm.contact.delete", {"id": contact}))
    assert _find(portal, "EMAIL", ["new@example.com"]) == []


def test_values_past_the_twentieth_are_ignored(portal: Portal) -> None:
    ids = ok(portal.control("seed", {"contacts": [
        {"NAME": f"P{i}", "EMAIL": [{"VALUE": f"p{i}@example.com", "VALUE_TYPE": "WORK"}]} for i in range(22)]}))["contacts"]
    found = _find(portal, "EMAIL", [f"p{i}@example.com" for i in range(22)])
    assert found == {"CONTACT": ids[:20]}


def test_twenty_holders_of_one_value_hide_the_later_types(portal: Portal) -> None:
    shared = [{"VALUE": "office@example.com", "VALUE_TYPE": "WORK"}]
    ok(portal.control("seed", {"contacts": [{"NAME": f"P{i}", "EMAIL": shared} for i in range(20)],
                               "companies": [{"TITLE": "Acme", "EMAIL": shared}]}))
    found = _find(portal, "EMAIL", ["office@example.com"])
    assert list(found) == ["CONTACT"] and len(found["CONTACT"]) == 20


def test_documented_refusals(portal: Portal) -> None:
    cases = [({"values": ["a@b.co"]}, "Communication type is not defined."),
             ({"type": "FAX", "values": ["1"]}, "Communication type 'FAX' is not supported in current context."),
             ({"type": "EMAIL"}, "Communication values is not defined."),
             ({"type": "EMAIL", "values": "a@b.co"}, "Communication values is not defined.")]
    for params, message in cases:
        refused = portal.call("crm.duplicate.findbycomm", params)
        assert (refused.status_code, refused.json()) == (400, {"error": "", "error_description": message})
