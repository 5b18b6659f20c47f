"""The in-place multi-field planner (contract §4) against Bitrix24's documented update semantics."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mappers.customer import Comm
from mappers.multifield import multifield_changes, multifield_new, normalized


def apply_update(stored: list[dict], changes: list[dict]) -> list[dict]:
    """What crm.contact.update does with a multi-field list (reference §5, crm-contact-update.md).

    An entry without ID is added; an entry with ID changes that row, or deletes it when it says
    DELETE "Y", has an empty VALUE, or carries nothing but the ID.
    """
    rows = {str(row["ID"]): dict(row) for row in stored}
    added = []
    for change in changes:
        if "ID" not in change:
            added.append({"VALUE": change["VALUE"], "VALUE_TYPE": change.get("VALUE_TYPE", "WORK")})
            continue
        key = str(change["ID"])
        assert key in rows, f"change for a row that is not stored: {change}"
        if change.get("DELETE") == "Y" or change.get("VALUE", "") == "" or set(change) == {"ID"}:
            del rows[key]
        else:
            rows[key].update(VALUE=change["VALUE"], VALUE_TYPE=change.get("VALUE_TYPE", rows[key]["VALUE_TYPE"]))
    return list(rows.values()) + added


def stored_rows(values: list[tuple[str, str]]) -> list[dict]:
    return [{"ID": str(100 + i), "VALUE": v, "VALUE_TYPE": t, "TYPE_ID": "PHONE"} for i, (v, t) in enumerate(values)]


def test_unchanged_values_change_nothing_even_when_formatted_differently():
    stored = stored_rows([("Mark@Cho.com", "WORK"), ("(650) 554-1479", "WORK")])
    desired = [Comm(" mark@cho.COM ", "WORK"), Comm("650-554-1479", "WORK")]
    assert multifield_changes(stored, desired) == []


def test_a_changed_email_reuses_the_stored_row():
    stored = stored_rows([("old@example.com", "WORK")])
    assert multifield_changes(stored, [Comm("new@example.com", "WORK")]) == [
        {"ID": "100", "VALUE": "new@example.com", "VALUE_TYPE": "WORK"}]


def test_surplus_rows_are_deleted_and_only_missing_values_added():
    stored = stored_rows([("a@x.io", "WORK"), ("b@x.io", "WORK"), ("a@x.io", "HOME")])
    changes = multifield_changes(stored, [Comm("a@x.io", "WORK"), Comm("c@x.io", "WORK"), Comm("d@x.io", "WORK")])
    assert changes == [{"ID": "101", "VALUE": "c@x.io", "VALUE_TYPE": "WORK"},
                       {"ID": "102", "VALUE": "d@x.io", "VALUE_TYPE": "WORK"}]
    assert multifield_changes(stored, []) == [{"ID": r["ID"], "DELETE": "Y"} for r in stored]


def test_a_new_kind_for_the_same_number_is_changed_in_place():
    stored = stored_rows([("+1 650 555 0100", "WORK")])
    assert multifield_changes(stored, [Comm("+1 650 555 0100", "MOBILE")]) == [
        {"ID": "100", "VALUE": "+1 650 555 0100", "VALUE_TYPE": "MOBILE"}]


def test_new_lists_skip_blanks_and_copies():
    assert multifield_new([Comm("a@x.io", "WORK"), Comm(" ", "WORK"), Comm("A@X.io", "HOME")]) == [
        {"VALUE": "a@x.io", "VALUE_TYPE": "WORK"}]


def test_normalization_keeps_kinds_apart():
    assert normalized(" Mark@Cho.com ") == "mark@cho.com"
    assert normalized("(650) 554-1479 x12") == "650554147912"
    assert normalized("HTTP://www.Pyescakes.intuit.com/") == "www.pyescakes.intuit.com"


_VALUES = st.sampled_from(["a@x.io", "A@x.io ", "b@x.io", "c@y.org", "(650) 555-0100", "650.555.0100",
                           "+44 20 7946 0000", "555-0199", "", "http://shop.example.com", "shop.example.com/"])
_TYPES = st.sampled_from(["WORK", "HOME", "MOBILE", "OTHER"])
_PAIRS = st.lists(st.tuples(_VALUES, _TYPES), max_size=7)


@settings(max_examples=400, deadline=None)
@given(stored=_PAIRS, desired=_PAIRS)
def test_applying_the_changes_yields_exactly_the_desired_values(stored, desired):
    rows = stored_rows(stored)
    wanted = [Comm(v, t) for v, t in desired]
    result = apply_update(rows, multifield_changes(rows, wanted))
    expected = {normalized(c.value): c.value_type for c in reversed(wanted) if normalized(c.value)}
    first_type = {}
    for comm in wanted:  # the first copy of a value decides its kind
        first_type.setdefault(normalized(comm.value), comm.value_type)
    keys = [normalized(r["VALUE"]) for r in result]
    assert sorted(keys) == sorted(expected), "exactly the desired values, each once"
    assert len(keys) == len(set(keys)), "never a duplicate"
    assert all(first_type[normalized(r["VALUE"])] == r["VALUE_TYPE"] for r in result)


@settings(max_examples=400, deadline=None)
@given(stored=_PAIRS, desired=_PAIRS)
def test_it_never_adds_while_a_stored_row_could_be_reused(stored, desired):
    rows = stored_rows(stored)
    changes = multifield_changes(rows, [Comm(v, t) for v, t in desired])
    adds = [c for c in changes if "ID" not in c]
    deletes = [c for c in changes if c.get("DELETE") == "Y"]
    assert not (adds and deletes), "a deleted row should have been reused for an added value"
    touched = [str(c["ID"]) for c in changes if "ID" in c]
    assert len(touched) == len(set(touched)), "each stored row changed at most once"


@settings(max_examples=200, deadline=None)
@given(stored=_PAIRS, desired=_PAIRS)
def test_a_second_plan_after_applying_the_first_is_empty(stored, desired):
    rows = stored_rows(stored)
    wanted = [Comm(v, t) for v, t in desired]
    after = apply_update(rows, multifield_changes(rows, wanted))
    renumbered = [{**row, "ID": str(500 + i)} for i, row in enumerate(after)]
    assert multifield_changes(renumbered, wanted) == []
