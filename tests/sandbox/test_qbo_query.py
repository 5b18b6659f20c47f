"""The QuickBooks sandbox's query language, checked against queries real QuickBooks answered."""
from __future__ import annotations

import json
import urllib.parse
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.quickbooks.query import Condition, Query, QueryError, parse, run

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = FIXTURES / "qbo_query"
ENTITIES = frozenset({"Customer", "Vendor", "Employee", "Item", "Account", "Invoice"})


def load(path: Path) -> dict[str, Any]:
    """A fixture body as JSON."""
    return json.loads(path.read_bytes())


def recorded_statement(body_file: str) -> str:
    """The statement real QuickBooks was sent for a recorded body (from INDEX.tsv's URL)."""
    for line in (RECORDED / "INDEX.tsv").read_text().splitlines():
        name, request, _status = line.split("\t")
        if name == body_file:
            return urllib.parse.unquote(request.split("query=", 1)[1])
    raise LookupError(body_file)


def answer(body_file: str) -> dict[str, Any]:
    """The QueryResponse of a recorded body."""
    return load(RECORDED / body_file)["QueryResponse"]


def ids(rows: list[dict[str, Any]] | int) -> list[str]:
    """The Ids of a page, in order."""
    assert isinstance(rows, list)
    return [row["Id"] for row in rows]


def select(statement: str, records: list[dict[str, Any]], **options: Any) -> list[dict[str, Any]] | int:
    """Parse and run in one go."""
    return run(parse(statement, ENTITIES), records, **options)


@pytest.fixture(scope="module")
def customers() -> list[dict[str, Any]]:
    """The 41 real customers of minimul's sandbox company."""
    body = load(FIXTURES / "customers_query_all_41__minimul_sandbox_2020-09-29.json")
    return body["QueryResponse"]["Customer"]


@pytest.fixture(scope="module")
def vendors() -> list[dict[str, Any]]:
    """27 real vendors, one inactive, in QuickBooks' own order."""
    return load(RECORDED / "get__inactive_vendors__0_get_200.json")["QueryResponse"]["Vendor"]


# --- real queries, real answers -------------------------------------------------------------

def test_displayname_with_escaped_apostrophe_selects_exactly_amy(customers: list[dict[str, Any]]) -> None:
    statement = recorded_statement("get__display_name__0_get_200.json")
    assert statement == "SELECT * FROM Customer WHERE DisplayName = 'Amy\\'s Bird Sanctuary'"
    expected = answer("customer_query_by_displayname_amys__minimul.json")["Customer"]
    assert ids(select(statement, customers)) == ids(expected) == ["1"]


def test_alt_select_count_and_pages_match_the_recording(customers: list[dict[str, Any]]) -> None:
    count_statement = recorded_statement("all__alt_select__0_get_200.json")
    assert parse(count_statement, ENTITIES).count is True
    assert select(count_statement, customers) == answer("all__alt_select__0_get_200.json")["totalCount"]
    for page in range(1, 5):
        body_file = f"all__alt_select__{page}_get_200.json"
        recorded = answer(body_file).get("Customer", [])
        assert ids(select(recorded_statement(body_file), customers)) == ids(recorded)


def test_vendor_pages_and_counts_match_the_recording(vendors: list[dict[str, Any]]) -> None:
    assert select(recorded_statement("all__vendors_by_5__0_get_200.json"), vendors) == 26
    for page in range(1, 7):
        body_file = f"all__vendors_by_5__{page}_get_200.json"
        recorded = answer(body_file)["Vendor"]
        assert ids(select(recorded_statement(body_file), vendors)) == ids(recorded)


def test_inactive_records_are_hidden_unless_active_is_mentioned(vendors: list[dict[str, Any]]) -> None:
    everything = select(recorded_statement("get__inactive_vendors__0_get_200.json"), vendors)
    assert ids(everything) == ids(vendors) and "53" in ids(everything)
    assert "53" not in ids(select("SELECT * FROM Vendor", vendors))
    assert ids(select("SELECT * FROM Vendor WHERE Active = false", vendors)) == ["53"]
    assert select("SELECT COUNT(*) FROM Vendor", vendors, active_only_default=False) == 27
    invoices = [{"Id": "1", "Active": False}, {"Id": "2"}]
    assert ids(select("SELECT * FROM Invoice", invoices)) == ["1", "2"]


def test_employees_including_inactive_match_the_recording() -> None:
    count_file, rows_file = (f"all__employees_including_active__{n}_get_200.json" for n in (0, 1))
    employees = answer(rows_file)["Employee"]
    assert select(recorded_statement(count_file), employees) == answer(count_file)["totalCount"] == 2
    assert ids(select(recorded_statement(rows_file), employees)) == ["55", "54"]
    assert ids(select("SELECT * FROM Employee", employees)) == ["54"]


def test_ampersand_in_a_literal(vendors: list[dict[str, Any]]) -> None:
    body_file = "misc__ampersand__0_get_200.json"
    assert ids(select(recorded_statement(body_file), vendors)) == ids(answer(body_file)["Vendor"]) == ["49"]


def test_unknown_entity_gives_the_real_4001_fault() -> None:
    real = load(RECORDED / "4001_invalid_query__400.json")
    with pytest.raises(QueryError) as caught:
        parse("SELECT * FROM Custmoer", ENTITIES)
    assert caught.value.status == 400
    body = caught.value.body(datetime.now(timezone.utc))
    assert body["Fault"] == real["Fault"]


# --- operators --------------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "expected"), [
    ("Balance = 85", ["2", "9"]),
    ("Balance > 629.1", ["1", "18"]),
    ("Balance >= 629.1", ["1", "10", "18"]),
    ("Balance < 75", None),
    ("Balance <= 75", None),
    ("Id < '3'", ["1", "2"]),
    ("Id >= 67", ["67", "68", "69", "70"]),
    ("DisplayName LIKE 'Jack%'", ["64", "60", "68"]),
    ("DisplayName LIKE '%Doe'", ["64", "60", "58", "59"]),
    ("DisplayName LIKE '%by%'", ["16", "25", "27", "28"]),
    ("DisplayName LIKE 'J%n D%'", ["59"]),
    ("DisplayName LIKE 'Cool Cars'", ["3"]),
    ("DisplayName LIKE 'Cool_Cars'", []),
    ("Id IN ('5', '10', '99')", ["5", "10"]),
    ("ParentRef = '7'", ["8", "9"]),
    ("Job = true", None),
    ("Taxable IN (false)", None),
    ("DisplayName > 'W'", ["28", "29"]),
])
def test_each_operator(customers: list[dict[str, Any]], where: str, expected: list[str] | None) -> None:
    result = ids(select(f"SELECT * FROM Customer WHERE {where} MAXRESULTS 1000", customers))
    if expected is None:  # checked against a plain-Python oracle instead of a fixed list
        expected = [c["Id"] for c in customers if _oracle(where, c)]
        assert expected, where
    assert sorted(result, key=int) == sorted(expected, key=int)


def _oracle(where: str, customer: dict[str, Any]) -> bool:
    """The few WHERE clauses above whose answer is computed rather than listed."""
    return {
        "Balance < 75": customer["Balance"] < 75,
        "Balance <= 75": customer["Balance"] <= 75,
        "Job = true": customer["Job"] is True,
        "Taxable IN (false)": customer.get("Taxable") is False,
    }[where]


def test_conditions_are_anded(customers: list[dict[str, Any]]) -> None:
    statement = "SELECT * FROM Customer WHERE DisplayName LIKE '%Doe%' AND Id > '60' AND ParentRef IN ('62')"
    assert ids(select(statement, customers)) == ["64"]


def test_keywords_are_case_insensitive_and_fields_match_any_case(customers: list[dict[str, Any]]) -> None:
    statement = (
        "select * from Customer where displayname like '%Diner' and metadata.lastupdatedtime > '2015-01-01'")
    assert ids(select(statement, customers)) == ["20"]


def test_entity_names_are_case_sensitive_unless_switched() -> None:
    with pytest.raises(QueryError) as caught:
        parse("SELECT * FROM customer", ENTITIES)
    assert caught.value.code == "4001"
    assert caught.value.detail == "QueryValidationError: invalid context declaration: customer"
    assert parse("SELECT * FROM customer", ENTITIES, entity_case_sensitive=False).entity == "Customer"


def test_refs_compare_against_their_value() -> None:
    invoices = [
        {"Id": "130", "CustomerRef": {"value": "1", "name": "Amy's Bird Sanctuary"}},
        {"Id": "131", "CustomerRef": {"value": "10", "name": "Geeta Kalapatapu"}},
        {"Id": "132"},
    ]
    assert ids(select("SELECT * FROM Invoice WHERE CustomerRef = '1'", invoices)) == ["130"]
    assert ids(select("SELECT * FROM Invoice WHERE CustomerRef IN ('10', '2')", invoices)) == ["131"]
    assert ids(select("SELECT * FROM Invoice ORDERBY CustomerRef DESC", invoices)) == ["131", "130", "132"]


# --- escaping -----------------------------------------------------------------------------------

def test_escaped_apostrophe_and_backslash() -> None:
    records = [
        {"Id": "1", "Name": "Amy's Bird Sanctuary"},
        {"Id": "2", "Name": "C:\\temp\\"},
        {"Id": "3", "Name": "back\\'slash"},
    ]
    query = parse("SELECT * FROM Invoice WHERE Name = 'C:\\\\temp\\\\'", ENTITIES)
    assert query.conditions == (Condition("Name", "=", "C:\\temp\\"),)
    assert ids(run(query, records)) == ["2"]
    assert ids(select("SELECT * FROM Invoice WHERE Name = 'back\\\\\\'slash'", records)) == ["3"]
    assert ids(select("SELECT * FROM Invoice WHERE Name LIKE '%\\'s%'", records)) == ["1", "3"]
    assert ids(select("SELECT * FROM Invoice WHERE Name LIKE '%y\\'s%'", records)) == ["1"]


def test_typographic_apostrophe_breaks_the_lexer_like_quickbooks() -> None:
    # ruckus/quickbooks-ruby#309: the exact statement and QuickBooks' answer to it.
    with pytest.raises(QueryError) as caught:
        parse("SELECT * FROM ITEM WHERE NAME LIKE '%Fleur\u2019t'", ENTITIES)
    assert (caught.value.code, caught.value.message) == ("4000", "Error parsing query")
    assert caught.value.detail == (
        "QueryParserError: Invalid content. Lexical error at line 1, column 43.  "
        'Encountered: "\\u2019" (8217), after : "\\\'%Fleur"'
    )


def test_unescaped_apostrophe_gives_quickbooks_parse_error_text() -> None:
    # mcohen01/node-quickbooks#56: statement as that library built it, Detail as QuickBooks sent it.
    with pytest.raises(QueryError) as caught:
        parse("select * from vendor where DisplayName = 'Cutlery 'R Us'", ENTITIES)
    assert caught.value.code == "4000"
    assert caught.value.detail == (
        'QueryParserError: Encountered " <IDENTIFIER> "R "" at line 1, column 52.\n'
        "Was expecting one of:\n    <EOF> \n    <AND> ...\n    \"iterator\" ...\n    \"maxresults\" ...\n"
        "    <OR> ...\n    \"order\" ...\n    \"orderby\" ...\n    \"startposition\" ...\n    "
    )


def test_empty_statement_gives_quickbooks_text() -> None:
    # consolibyte/quickbooks-php#129.
    with pytest.raises(QueryError) as caught:
        parse("", ENTITIES)
    assert caught.value.detail == (
        'QueryParserError: Encountered "<EOF>" at line 0, column 0.\nWas expecting:\n    "select" ...\n    ')


# --- ordering -----------------------------------------------------------------------------------

def test_orderby_and_order_by_are_the_same(customers: list[dict[str, Any]]) -> None:
    one = select("SELECT * FROM Customer ORDERBY DisplayName MAXRESULTS 1000", customers)
    two = select("SELECT * FROM Customer order by DisplayName asc MAXRESULTS 1000", customers)
    names = [c["DisplayName"] for c in one]  # type: ignore[union-attr]
    assert one == two and names == sorted(names) and len(names) == 41


def test_multi_field_ordering_is_stable(customers: list[dict[str, Any]]) -> None:
    rows = select("SELECT * FROM Customer ORDER BY Balance DESC, DisplayName MAXRESULTS 1000", customers)
    keys = [(-c["Balance"], c["DisplayName"]) for c in rows]  # type: ignore[union-attr]
    assert keys == sorted(keys)
    ties = select("SELECT * FROM Customer WHERE Balance = 0 ORDERBY Balance MAXRESULTS 1000", customers)
    assert ids(ties) == [c["Id"] for c in customers if c["Balance"] == 0]


def test_records_without_the_field_sort_first_ascending_last_descending() -> None:
    records = [{"Id": "1", "Amount": 5}, {"Id": "2"}, {"Id": "3", "Amount": 1}, {"Id": "4"}]
    assert ids(select("SELECT * FROM Invoice ORDERBY Amount", records)) == ["2", "4", "3", "1"]
    assert ids(select("SELECT * FROM Invoice ORDERBY Amount DESC", records)) == ["1", "3", "2", "4"]


def test_ids_order_numerically() -> None:
    records = [{"Id": str(n)} for n in (10, 9, 100, 2)]
    assert ids(select("SELECT * FROM Invoice ORDERBY Id", records)) == ["2", "9", "10", "100"]


# --- date-times -----------------------------------------------------------------------------------

def test_date_times_compare_as_instants_across_offsets() -> None:
    records = [
        {"Id": "1", "MetaData": {"LastUpdatedTime": "2015-07-24T10:35:08-07:00"}},  # 17:35:08Z
        {"Id": "2", "MetaData": {"LastUpdatedTime": "2015-07-24T18:00:00+02:00"}},  # 16:00:00Z
        {"Id": "3", "MetaData": {"LastUpdatedTime": "2015-07-23T23:30:00-07:00"}},  # 24th 06:30Z
    ]
    where = "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime"
    assert ids(select(f"{where} = '2015-07-24T17:35:08Z'", records)) == ["1"]
    assert ids(select(f"{where} >= '2015-07-24T19:35:08+02:00'", records)) == ["1"]
    assert ids(select(f"{where} > '2015-07-24T19:35:08+02:00'", records)) == []
    assert ids(select(f"{where} < '2015-07-24T17:00:00Z'", records)) == ["2", "3"]
    assert ids(select(f"{where} >= '2015-07-24'", records)) == ["1", "2", "3"]
    pacific = timezone(timedelta(hours=-7))
    assert ids(select(f"{where} >= '2015-07-24'", records, naive_timezone=pacific)) == ["1", "2"]
    ordered = select("SELECT * FROM Invoice ORDERBY MetaData.LastUpdatedTime DESC", records)
    assert ids(ordered) == ["1", "2", "3"]


def test_incremental_filter_on_real_customers(customers: list[dict[str, Any]]) -> None:
    statement = (
        "SELECT * FROM Customer WHERE MetaData.LastUpdatedTime >= '2020-09-29T12:00:00Z' "
        "ORDERBY MetaData.LastUpdatedTime")
    assert ids(select(statement, customers)) == ["69", "70", "68", "1"]


# --- paging and COUNT -----------------------------------------------------------------------------

def test_paging_edges(customers: list[dict[str, Any]]) -> None:
    assert select("SELECT * FROM Customer STARTPOSITION 42", customers) == []
    assert ids(select("SELECT * FROM Customer STARTPOSITION 41", customers)) == [customers[-1]["Id"]]
    assert len(select("SELECT * FROM Customer MAXRESULTS 1000", customers)) == 41  # type: ignore[arg-type]
    assert parse("SELECT * FROM Customer MAXRESULTS 1000", ENTITIES).max_results == 1000
    with pytest.raises(QueryError) as caught:
        parse("SELECT * FROM Customer MAXRESULTS 1001", ENTITIES)
    assert (caught.value.code, caught.value.message, caught.value.detail) == (
        "4001", "Invalid query", "QueryValidationError: value 1001 is too large. Max allowed value is 1000")


def test_default_page_is_100_and_starts_at_1() -> None:
    records = [{"Id": str(n)} for n in range(1, 251)]
    query = parse("SELECT * FROM Invoice", ENTITIES)
    assert (query.start_position, query.max_results) == (1, 100)
    assert ids(run(query, records)) == [str(n) for n in range(1, 101)]
    last_page = select("SELECT * FROM Invoice STARTPOSITION 201", records)
    assert ids(last_page) == [str(n) for n in range(201, 251)]


def test_count_ignores_paging_and_counts_matches(customers: list[dict[str, Any]]) -> None:
    assert select("SELECT COUNT(*) FROM Customer", customers) == 41
    owing = len([c for c in customers if c["Balance"] > 0])
    assert owing > 1
    statement = "SELECT count(*) FROM Customer WHERE Balance > 0 MAXRESULTS 1 STARTPOSITION 5"
    assert select(statement, customers) == owing


def test_parse_result_shape() -> None:
    query = parse(
        "SELECT * FROM Invoice WHERE TotalAmt >= 10.50 AND Id IN ('1', 2) ORDER BY TxnDate DESC, Id "
        "STARTPOSITION 3 MAXRESULTS 7", ENTITIES)
    assert query == Query(
        entity="Invoice", count=False,
        conditions=(Condition("TotalAmt", ">=", Decimal("10.50")), Condition("Id", "IN", ("1", 2))),
        order_by=(("TxnDate", True), ("Id", False)), start_position=3, max_results=7)


# --- malformed statements -----------------------------------------------------------------------

MALFORMED = [
    "",
    "   ",
    "SELECT",
    "SELECT *",
    "SELECT * FROM",
    "SELECT * Customer",
    "DELETE FROM Customer",
    "SELECT Id, DisplayName FROM Customer",
    "SELECT DisplayName FROM Customer",
    "SELECT COUNT FROM Customer",
    "SELECT COUNT(Id) FROM Customer",
    "SELECT * FROM Custmoer",
    "SELECT * FROM Customer WHERE",
    "SELECT * FROM Customer WHERE DisplayName",
    "SELECT * FROM Customer WHERE DisplayName = ",
    "SELECT * FROM Customer WHERE DisplayName == 'x'",
    "SELECT * FROM Customer WHERE DisplayName != 'x'",
    "SELECT * FROM Customer WHERE DisplayName <> 'x'",
    "SELECT * FROM Customer WHERE DisplayName = \"Amy\"",
    "SELECT * FROM Customer WHERE DisplayName = 'Amy's Bird Sanctuary'",
    "SELECT * FROM Customer WHERE DisplayName = 'unterminated",
    "SELECT * FROM Customer WHERE DisplayName = 'ends with backslash\\",
    "SELECT * FROM Customer WHERE DisplayName = 'Amy\u2019s Bird Sanctuary'",
    "SELECT * FROM Customer WHERE DisplayName LIKE %Amy%",
    "SELECT * FROM Customer WHERE Balance LIKE 5",
    "SELECT * FROM Customer WHERE Id IN ()",
    "SELECT * FROM Customer WHERE Id IN ('1', )",
    "SELECT * FROM Customer WHERE Id IN '1'",
    "SELECT * FROM Customer WHERE Id IN ('1'",
    "SELECT * FROM Customer WHERE Id = '1' OR Id = '2'",
    "SELECT * FROM Customer WHERE Id = '1' AND",
    "SELECT * FROM Customer WHERE (Id = '1')",
    "SELECT * FROM Customer WHERE Id = '1';",
    "SELECT * FROM Customer, Vendor",
    "SELECT * FROM Customer JOIN Vendor",
    "SELECT * FROM Customer GROUP BY Id",
    "SELECT * FROM Customer ORDER DisplayName",
    "SELECT * FROM Customer ORDERBY",
    "SELECT * FROM Customer ORDERBY DisplayName ASC DESC",
    "SELECT * FROM Customer ORDERBY DisplayName,",
    "SELECT * FROM Customer MAXRESULTS",
    "SELECT * FROM Customer MAXRESULTS 1001",
    "SELECT * FROM Customer MAXRESULTS 0",
    "SELECT * FROM Customer MAXRESULTS -5",
    "SELECT * FROM Customer MAXRESULTS 2.5",
    "SELECT * FROM Customer MAXRESULTS ten",
    "SELECT * FROM Customer STARTPOSITION 0",
    "SELECT * FROM Customer STARTPOSITION 1 STARTPOSITION 2",
    "SELECT * FROM Customer MAXRESULTS 5 ORDERBY Id",
    "SELECT * FROM Customer STARTPOSITION 1 WHERE Id = '1'",
    "SELECT * FROM Customer LIMIT 10",
    "SELECT * FROM Customer ITERATOR",
    "SELECT * FROM Customer # comment",
]


@pytest.mark.parametrize("statement", MALFORMED)
def test_malformed_statements_are_refused_with_quickbooks_faults(statement: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(statement, ENTITIES)
    error = caught.value
    assert (error.code, error.message) in {("4000", "Error parsing query"), ("4001", "Invalid query")}
    prefix = "QueryParserError: " if error.code == "4000" else "QueryValidationError: "
    assert error.detail.startswith(prefix)
    if error.code == "4000" and "Lexical error" not in error.detail:
        assert "Was expecting" in error.detail and "\n    " in error.detail


def test_syntax_errors_win_over_validation_errors() -> None:
    with pytest.raises(QueryError) as caught:
        parse("SELECT * FROM Custmoer WHERE", ENTITIES)
    assert caught.value.code == "4000"


QUERY_CHARACTERS = list("SELECT*FROMWHEREAND ()'\\,=<>%.0123456789Cust\u2019\n")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(QUERY_CHARACTERS), max_size=60))
def test_any_text_parses_or_raises_query_error(statement: str) -> None:
    try:
        parse(statement, ENTITIES)
    except QueryError as error:
        assert error.code in {"4000", "4001"}


# --- property: paging through yields the sorted filtered list --------------------------------------

NAMES = st.text(alphabet="abcAB '\\%", max_size=6)
RECORD = st.fixed_dictionaries(
    {"Name": NAMES, "Active": st.booleans()},
    optional={"Balance": st.integers(-5, 5)},
)


def _quote(text: str) -> str:
    """A QuickBooks string literal for `text`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=st.lists(RECORD, max_size=40),
    threshold=st.integers(-6, 6),
    needle=st.text(alphabet="abAB '\\", max_size=2),
    field=st.sampled_from(["Balance", "Name"]),
    descending=st.booleans(),
    page_size=st.integers(1, 7),
)
def test_paging_yields_the_sorted_filtered_list(
    records: list[dict[str, Any]], threshold: int, needle: str, field: str, descending: bool, page_size: int,
) -> None:
    records = [{"Id": str(n), **record} for n, record in enumerate(records, start=1)]
    where = f"WHERE Balance >= {threshold} AND Name LIKE {_quote('%' + needle + '%')}"
    order = f"ORDERBY {field} {'DESC' if descending else 'ASC'}, Id"
    expected = [
        r for r in records
        if r["Active"] and r.get("Balance", threshold - 1) >= threshold and needle in r["Name"]
    ]
    expected.sort(key=lambda r: int(r["Id"]))
    expected.sort(key=lambda r: (field in r, r.get(field)), reverse=descending)
    pages, start = [], 1
    while True:
        paging = f"STARTPOSITION {start} MAXRESULTS {page_size}"
        page = select(f"SELECT * FROM Customer {where} {order} {paging}", records)
        assert isinstance(page, list) and len(page) <= page_size
        if not page:
            break
        pages.extend(page)
        start += page_size
    assert pages == expected
    assert select(f"SELECT COUNT(*) FROM Customer {where}", records) == len(expected)
