"""Real QuickBooks records from tests/fixtures/qbo, loaded for the mapper tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

QBO = Path(__file__).parents[1] / "fixtures" / "qbo"


def load(name: str) -> Any:
    return json.loads((QBO / name).read_text(encoding="utf-8"))


def jsonl(name: str) -> list[dict]:
    return [json.loads(line)["data"] for line in (QBO / name).read_text(encoding="utf-8").splitlines() if line]


def customers_41() -> dict[str, dict]:
    """The 41-customer capture of an Intuit sandbox company, by Id."""
    rows = load("customers_query_all_41__minimul_sandbox_2020-09-29.json")["QueryResponse"]["Customer"]
    return {row["Id"]: row for row in rows}


def invoices_2023() -> dict[str, dict]:
    """The five real invoices of the 2023 sandbox records, by Id."""
    return {row["Id"]: row for row in jsonl("sandbox2023_invoices.jsonl")}
