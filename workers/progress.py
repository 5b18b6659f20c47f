"""A sync run's progress and report as the app page, the CLI and the demo show them (one reading)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.models import SyncRun
from workers.runs import ACTIVE_RUNS

# done = the sum of COUNTERS; "placed": sub-customers (jobs), on their top-level customer's CRM record
COUNTERS = ("imported", "updated", "skipped", "failed", "placed")
REPORT_COUNTERS = ("imported", "updated", "skipped", "failed", "matched", "placed")
CUSTOMERS_ONLY = ("matched", "placed")
LABELS = {"imported": "created", "updated": "updated", "skipped": "unchanged", "failed": "failed",
          "matched": "matched", "placed": "placed on parent"}
DRY_LABELS = {**LABELS, "imported": "would create", "updated": "would update"}
FINISHED = ("done", "failed", "cancelled")


def run_progress(run: SyncRun | None) -> dict[str, Any]:
    """JSON-ready progress: status, phase, counters, done/total, percentage, rate and ETA."""
    if run is None:
        return {"status": "none", "counters": {name: 0 for name in COUNTERS}, "total": None, "percent": 0,
                "phase": None, "done": 0, "rate": None, "eta_s": None}
    raw = run.counters or {}
    counters = {name: int(raw.get(name) or 0) for name in COUNTERS}
    total = None if raw.get("total") is None else int(raw["total"])
    done = int(raw["done"]) if raw.get("done") is not None else sum(counters.values())
    percent = 100 if run.status == "done" else min(100, round(100 * done / total)) if total else None
    if percent is None and run.status not in ACTIVE_RUNS:
        percent = 0  # a finished run without a total must not show a busy (indeterminate) bar
    return {"run_id": run.id, "kind": run.kind, "status": run.status, "counters": counters,
            "total": total, "done": done, "percent": percent, "phase": raw.get("phase"),
            "rate": _number(raw.get("rate")), "eta_s": _number(raw.get("eta_s")), "error": run.error,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None}


@dataclass
class ReportView:
    """A finished run's report: a row of counters per kind, the failures, a dry run's stage moves."""

    dry_run: bool
    labels: dict[str, str]
    rows: list[tuple[str, dict[str, int | None]]]
    failures: list[dict[str, Any]] = field(default_factory=list)
    failures_truncated: int = 0
    stage_moves: list[dict[str, Any]] = field(default_factory=list)


def report_view(run: SyncRun | None) -> ReportView | None:
    """The run's report; a finished run without one (cancelled early) shows its counters as 'all'."""
    if run is None:
        return None
    report = run.report or {}
    dry_run = bool(report.get("dry_run", run.kind == "dry_run"))
    rows = [(str(name), _row(value)) for name, value in report.items() if isinstance(value, dict)]
    if not rows and run.status in FINISHED and run.counters:  # one cancelled before it began has nothing to report
        rows = [("all", _row(run.counters or {}))]
    if not rows:
        return None
    return ReportView(dry_run, DRY_LABELS if dry_run else LABELS, rows, list(report.get("failures") or []),
                      int(report.get("failures_truncated") or 0), list(report.get("stage_moves") or []))


def report_lines(run: SyncRun) -> list[str]:
    """The report as terminal lines (`qb24 resync`, `make demo`)."""
    view = report_view(run)
    lines = [f"Sync run {run.id} ({'dry run' if run.kind == 'dry_run' else run.kind}): {run.status}"
             + (f": {run.error}" if run.error else "")]
    if view is None:
        return lines
    for name, row in view.rows:
        lines.append(f"  {name:<10} " + "  ".join(f"{view.labels[c]} {row[c]}" for c in REPORT_COUNTERS
                                                   if row[c] is not None))
    if any(row.get("placed") for _, row in view.rows):
        lines.append("  (placed on parent: QuickBooks sub-customers; their invoices are on the top-level customer's record)")
    if view.failures:
        lines.append(f"Failures ({len(view.failures) + view.failures_truncated}):")
        lines += [f"  {f.get('qbo_type')} {f.get('qbo_id')} {f.get('name')!r}: {f.get('reason')}"
                  for f in view.failures]
        if view.failures_truncated:
            lines.append(f"  … and {view.failures_truncated} more")
    if view.stage_moves:
        lines.append(f"Stage moves ({len(view.stage_moves)}):")
        lines += [f"  invoice {m.get('doc_number') or m.get('qbo_id')}: {m.get('from')} -> {m.get('to')}"
                  for m in view.stage_moves]
    return lines


def _row(values: dict[str, Any]) -> dict[str, int | None]:
    # "matched" and "placed" exist for customers only; None leaves the cell empty rather than a false 0.
    return {c: None if values.get(c) is None and c in CUSTOMERS_ONLY else int(values.get(c) or 0)
            for c in REPORT_COUNTERS}


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)
