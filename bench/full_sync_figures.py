"""The full-sync bench's figures from the worker reports and the sandboxes' tallies, and their table."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bench.traffic import Tally

PLAN_RATE, PLAN_BUCKET = 2.0, 50          # reference §8: every plan but Enterprise
BATCH = 50                                  # commands per batch request (reference §7)
TARGETS = {"b24_per_customer": 1.1 / BATCH, "qbo_per_record": 1 / 900, "bound_fraction": 0.85,
           "limit_errors": 0, "peak_rss_mb": 300, "second_writes_per_record": 0.01,
           "request_ratio": 20, "time_ratio": 10}

CRM_CUSTOMER_WRITES = ("crm.contact.add", "crm.contact.update", "crm.company.add", "crm.company.update")


@dataclass
class Measured:
    """One measured run: what the worker reported and what the sandboxes received meanwhile."""

    worker: dict[str, Any]
    b24: Tally
    qbo: Tally
    customers: int
    invoices: int

    @property
    def records(self) -> int:
        return self.customers + self.invoices


def invoice_batch(invoice_kind: str) -> int:
    """Records per request at the batch bound: a Smart Invoice and its product rows are two commands."""
    return BATCH // 2 if invoice_kind == "smart" else BATCH


def bound_seconds(run: Measured, invoice_kind: str, speedup: float, burst: bool = False) -> float:
    """The least time the plan's rate allows for the run's records at the batch bound (optionally
    crediting the bucket's initial burst, which a long run cannot lean on)."""
    requests = run.customers / BATCH + run.invoices / invoice_batch(invoice_kind)
    if burst:
        requests = max(0.0, requests - PLAN_BUCKET)
    return requests / (PLAN_RATE * speedup)


def crm_records_written(tally: Tally) -> int:
    """Contacts and companies added or updated, batched or not: a company customer with a person's name is
    two (the company and its person contact), a job none (its invoices go to its ancestor's record)."""
    return sum(n for method, n in tally.commands.items() if method in CRM_CUSTOMER_WRITES)


def run_figures(run: Measured, invoice_kind: str, speedup: float) -> dict[str, Any]:
    """Per-record figures of one run."""
    fam, elapsed = run.b24.by_family(), run.worker["elapsed_s"]
    report = run.worker.get("report") or {}
    surfaced = [f for f in report.get("failures", []) if "LIMIT" in str(f.get("reason", "")).upper()]
    return {
        "records": run.records, "customers": run.customers, "invoices": run.invoices,
        "status": run.worker.get("status"), "elapsed_s": elapsed,
        "b24_requests": run.b24.total, "b24_per_record": _ratio(run.b24.total, run.records),
        "b24_per_customer": _ratio(fam["customers"], run.customers),
        "crm_customer_records_written": crm_records_written(run.b24),
        "b24_per_crm_customer_record": _ratio(fam["customers"], crm_records_written(run.b24)),
        "b24_per_invoice": _ratio(fam["invoices"], run.invoices), "b24_other_requests": fam["other"],
        "b24_writes": run.b24.writes, "b24_writes_per_record": _ratio(run.b24.writes, run.records),
        "qbo_requests": run.qbo.total, "qbo_per_record": _ratio(run.qbo.total, run.records),
        "records_per_s": _ratio(run.records, elapsed),
        "bound_fraction": _ratio(bound_seconds(run, invoice_kind, speedup), elapsed),
        "bound_fraction_burst": _ratio(bound_seconds(run, invoice_kind, speedup, burst=True), elapsed),
        "limit_answers": (run.b24.statuses.get(503, 0) + run.b24.statuses.get(429, 0)
                          + run.qbo.statuses.get(429, 0)),
        "limit_errors_surfaced": len(surfaced), "client_retries": run.worker.get("b24_retries", 0),
        "failures": (report.get("failure_count") if report else run.worker.get("failure_count")) or 0,
        "cpu_ms_per_record": _ratio(run.worker["cpu_s"] * 1000, run.records),
        "peak_rss_mb": run.worker["peak_rss_mb"],
        "s_per_record": _ratio(elapsed, run.records),
        # time spent inside the sandboxes answering: what the worker waited on besides the limiters
        "b24_sandbox_s": round(sum(run.b24.seconds.values()), 1),
        "qbo_sandbox_s": round(sum(run.qbo.seconds.values()), 1),
        "b24_sandbox_s_by_request": {k: round(v, 2) for k, v in run.b24.seconds.items()},
        "b24_requests_by_label": dict(run.b24.requests), "qbo_requests_by_label": dict(run.qbo.requests),
    }


def all_figures(first: Measured, second: Measured, baseline: Measured, invoice_kind: str,
                speedup: float) -> dict[str, Any]:
    """The three runs side by side, the ratios and the targets."""
    runs = {name: run_figures(run, invoice_kind, speedup)
            for name, run in (("first", first), ("second", second), ("baseline", baseline))}
    engine, base = runs["first"], runs["baseline"]
    engine_requests = _ratio(engine["b24_requests"] + engine["qbo_requests"], engine["records"])
    base_requests = _ratio(base["b24_requests"] + base["qbo_requests"], base["records"])
    targets = {**TARGETS, "b24_per_invoice": 1.1 / invoice_batch(invoice_kind)}
    return {"invoice_kind": invoice_kind, "speedup": speedup,
            "plan": {"rate_per_s": PLAN_RATE, "bucket": PLAN_BUCKET},
            "runs": runs, "request_ratio": _ratio(base_requests, engine_requests),
            "time_ratio": _ratio(base["s_per_record"], engine["s_per_record"]), "targets": targets}


def _ratio(a: float, b: float) -> float:
    return round(a / b, 6) if b else 0.0


ROWS = (("records (customers + invoices)", "records", None), ("final status", "status", None),
        ("wall seconds", "elapsed_s", None), ("Bitrix24 requests", "b24_requests", None),
        ("  per record", "b24_per_record", None),
        ("  per QuickBooks customer", "b24_per_customer", "b24_per_customer"),
        ("  per CRM contact/company written", "b24_per_crm_customer_record", None),
        ("  CRM contacts/companies written", "crm_customer_records_written", None),
        ("  per invoice", "b24_per_invoice", "b24_per_invoice"),
        ("  setup/other requests", "b24_other_requests", None),
        ("Bitrix24 writes per record", "b24_writes_per_record", "second_writes_per_record"),
        ("QuickBooks requests per record", "qbo_per_record", "qbo_per_record"),
        ("records/s", "records_per_s", None),
        ("fraction of rate-limit bound", "bound_fraction", "bound_fraction"),
        ("  same, bucket burst credited", "bound_fraction_burst", None),
        ("rate-limit answers received", "limit_answers", None),
        ("rate-limit errors surfaced", "limit_errors_surfaced", "limit_errors"),
        ("records failed", "failures", None), ("Bitrix24 sandbox busy, s", "b24_sandbox_s", None),
        ("QuickBooks sandbox busy, s", "qbo_sandbox_s", None),
        ("worker CPU ms per record", "cpu_ms_per_record", None),
        ("worker peak RSS MB", "peak_rss_mb", "peak_rss_mb"))


def table(figures: dict[str, Any]) -> str:
    """A fixed-width table: first run, second run, baseline, target."""
    runs, targets = figures["runs"], figures["targets"]
    lines = [f"{'':34}{'first run':>14}{'second run':>14}{'baseline':>14}{'target':>12}"]
    for title, key, target in ROWS:
        cells = "".join(f"{_cell(runs[name][key]):>14}" for name in ("first", "second", "baseline"))
        lines.append(f"{title:34}{cells}{_cell(targets[target]) if target else '':>12}")
    for title, key, target in (("requests", "request_ratio", 20), ("seconds", "time_ratio", 10)):
        lines.append(f"{'baseline / engine, ' + title + ' per record':52}{figures[key]:>10.1f}x   (target ≥ {target}x)")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def json_line(figures: dict[str, Any]) -> str:
    return json.dumps({"bench": "full_sync", **figures}, sort_keys=True)
