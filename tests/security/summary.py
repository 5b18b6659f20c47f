"""The corpus's numbers: counted per kind, split by the issue 8 items still awaiting their fix,
printed in the test output and written to tests/artifacts/security/summary.json."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.security.replay import KINDS, Outcome, Violation

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "security" / "summary.json"
# Read by tests/security/conftest.py's terminal summary.
LINES: list[str] = []
LABELS = {"accepted": "forged requests accepted", "server_error": "answers >= 500",
          "refused_change": "store changes by refused requests", "secret": "secrets in answers or DEBUG logs",
          "header": "answers missing a required header"}


def count(violations: list[Violation], kinds: tuple[str, ...] = KINDS) -> dict[str, int]:
    totals = Counter({kind: 0 for kind in kinds})
    for violation in violations:
        totals[violation.kind] += violation.count
    return dict(totals)


def summarize(outcomes: list[Outcome], violations: list[Violation], awaiting: frozenset[int],
              scanned: dict[str, int]) -> dict:
    """Numbers over every case, and over those not awaiting a fix made in another branch; `scanned`
    says how many answers, log records and secrets the leak check covered."""
    counted = [v for v in violations if v.item not in awaiting]
    by_item = Counter(str(v.item) for v in violations for _ in range(v.count))
    return {"requests": len(outcomes), "all": count(violations), "counted": count(counted),
            "awaiting_items": sorted(awaiting), "scanned": scanned, "violations_by_item": dict(sorted(by_item.items())),
            "violations": [{"kind": v.kind, "item": v.item, "where": v.where, "detail": v.detail, "count": v.count}
                           for v in violations],
            "outcomes": [{"case": o.case.name, "item": o.case.item, "expect": o.case.expect, "status": o.reply.status,
                          "changed": sorted(o.changed), "app_info_calls": o.app_info_calls} for o in outcomes]}


def line(summary: dict, numbers: str = "all") -> str:
    values = summary[numbers]
    return (f"forged-request corpus ({numbers} cases): {summary['requests']} requests; "
            + "; ".join(f"{LABELS[kind]}: {values[kind]}" for kind in KINDS))


def publish(summary: dict) -> None:
    """Write the JSON and queue the lines for the terminal summary (also printed, for `-s`)."""
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(summary, indent=2, default=str))
    LINES[:] = [line(summary)]
    if summary["awaiting_items"]:
        LINES.append(line(summary, "counted") + f" (items {summary['awaiting_items']} await fixes "
                     f"made in other branches; their violations by item: {summary['violations_by_item']})")
    scanned = summary["scanned"]
    LINES.append(f"scanned {scanned['answers']} answers and {scanned['log_records']} DEBUG log records for "
                 f"{scanned['secrets']} secrets (+{scanned['logs_only_secrets']} never to be logged); details: {ARTIFACT}")
    print("\n".join(LINES))
