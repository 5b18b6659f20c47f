"""The full-sync engine against both sandboxes over HTTP: imports, unchanged re-runs, matching, multi-fields
in place, dry run, cancellation and resume (what Bitrix24 holds is read back through its REST API)."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from mappers.customer import is_sub_customer
from clients.bitrix24_errors import OverloadLimit
from store.db import transaction
from store.models import SyncRun
from tests.workers.sync_support import Rig, b24_rows, connected_rig
from workers.full_sync import run_full_sync


def sync(rig: Rig, kind: str = "full", **clients) -> tuple[str, SyncRun]:
    qbo, b24 = rig.clients()
    run_id = rig.new_run(kind)
    status = run_full_sync(rig.sessions, run_id, qbo=clients.get("qbo", qbo), b24=clients.get("b24", b24),
                           page_size=clients.get("page_size", 1000))
    return status, rig.run(run_id)


def person_customer(rig: Rig) -> dict:
    """A top-level customer without a company name (a contact) that has an email and a phone."""
    qbo, _ = rig.clients()
    return next(c for _, page in qbo.query_pages("Customer") for c in page
                if not is_sub_customer(c) and not c.get("CompanyName") and c.get("PrimaryEmailAddr")
                and c.get("PrimaryPhone"))


def contact_of(rig: Rig, qbo_id: str) -> dict:
    _, b24 = rig.clients()
    link = next(l for l in rig.links() if l.qbo_type == "Customer" and l.qbo_id == qbo_id)
    return b24.call("crm.contact.get", {"id": link.b24_id}).result


def test_second_run_writes_nothing_and_changes_multifields_in_place(tmp_path: Path) -> None:
    with connected_rig(tmp_path) as rig:
        status, first = sync(rig)
        assert status == "done" and first.report["customers"]["imported"] > 0
        customer = person_customer(rig)
        before = contact_of(rig, customer["Id"])

        status, second = sync(rig)
        assert status == "done"
        assert second.counters["imported"] == second.counters["updated"] == 0
        # sub-customers are "placed" on their parent's record on every run, never "unchanged"
        placed = first.counters["placed"]
        assert second.counters["skipped"] == first.counters["done"] - first.counters["failed"] - placed

        qbo, _ = rig.clients()
        qbo.sparse_update("Customer", customer["Id"], customer["SyncToken"], {
            "PrimaryEmailAddr": {"Address": "changed.address@example.com"},
            "PrimaryPhone": {"FreeFormNumber": "(555) 010-9999"}})
        status, third = sync(rig)
        assert status == "done" and third.report["customers"]["updated"] == 1
        after = contact_of(rig, customer["Id"])
        assert [e["VALUE"] for e in after["EMAIL"]] == ["changed.address@example.com"]
        assert [p["VALUE"] for p in after["PHONE"]] == ["(555) 010-9999"]
        # the stored rows were overwritten in place, not appended to
        assert {e["ID"] for e in after["EMAIL"]} <= {e["ID"] for e in before["EMAIL"]}
        assert {p["ID"] for p in after["PHONE"]} <= {p["ID"] for p in before["PHONE"]}


def test_existing_contact_with_the_same_email_is_linked_not_duplicated(tmp_path: Path) -> None:
    with connected_rig(tmp_path, "sqlite") as rig:
        customer = person_customer(rig)
        email = customer["PrimaryEmailAddr"]["Address"]
        _, b24 = rig.clients()
        existing = str(b24.call("crm.contact.add", {"fields": {
            "NAME": "Already", "LAST_NAME": "Here", "EMAIL": [{"VALUE": email.upper(), "VALUE_TYPE": "HOME"}]}}).result)

        status, run = sync(rig)
        assert status == "done" and run.report["customers"]["matched"] == 1
        link = next(l for l in rig.links() if l.qbo_type == "Customer" and l.qbo_id == customer["Id"])
        assert link.b24_id == existing
        holders = [c for c in b24_rows(b24, "contact")
                   if any(e["VALUE"].casefold() == email.casefold() for e in c.get("EMAIL") or [])]
        assert [c["ID"] for c in holders] == [existing]
        assert len(holders[0]["EMAIL"]) == 1  # the same address was not appended a second time


def test_dry_run_writes_nothing_and_reports_what_it_would_do(tmp_path: Path) -> None:
    with connected_rig(tmp_path, "sqlite") as rig:
        status, run = sync(rig, "dry_run")
        assert status == "done" and run.report["dry_run"] is True
        assert run.report["customers"]["imported"] > 0 and run.report["invoices"]["imported"] > 0
        _, b24 = rig.clients()
        assert b24_rows(b24, "contact") == [] and b24_rows(b24, "company") == []
        assert b24_rows(b24, "smart_invoice") == [] and rig.links() == []


def test_cancelled_mid_run_binds_what_it_wrote_and_stops(tmp_path: Path) -> None:
    with connected_rig(tmp_path, "sqlite") as rig:
        qbo, b24 = rig.clients()
        run_id = rig.new_run()
        real_batch = b24.batch

        def batch_then_cancel(commands, halt=False):
            answer = real_batch(commands, halt)
            if any(method.endswith(".add") for method, _ in dict(commands).values()):
                with transaction(rig.sessions) as session:  # what Log out does to an active run
                    session.get(SyncRun, run_id).status = "cancelled"
            return answer

        b24.batch = batch_then_cancel
        assert run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24, page_size=20) == "cancelled"
        _, reader = rig.clients()
        written = b24_rows(reader, "contact") + b24_rows(reader, "company")
        assert written and b24_rows(reader, "smart_invoice") == []
        bound = {l.b24_id for l in rig.links()}
        assert {r["ID"] for r in written} <= bound  # nothing written is left unbound


def test_resumes_from_its_checkpoint_after_a_transient_failure(tmp_path: Path) -> None:
    with connected_rig(tmp_path, "sqlite") as rig:
        qbo, b24 = rig.clients()
        run_id = rig.new_run()
        real_batch, sent = b24.batch, []

        def batch_then_drop(commands, halt=False):
            answer = real_batch(commands, halt)  # Bitrix24 did the writes; the answer is lost
            sent.append(1)
            if len(sent) == 4:
                raise requests.ConnectionError("connection reset")
            return answer

        b24.batch = batch_then_drop
        with pytest.raises(requests.ConnectionError):
            run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24, page_size=20)
        interrupted = rig.run(run_id)
        assert interrupted.status == "running" and interrupted.cursor["in_flight"] is not None

        _, healthy = rig.clients()
        assert run_full_sync(rig.sessions, run_id, qbo=qbo, b24=healthy, page_size=20) == "done"
        rows = b24_rows(healthy, "contact", ["ID", "ORIGIN_ID"]) + b24_rows(healthy, "company", ["ID", "ORIGIN_ID"])
        origins = [r["ORIGIN_ID"] for r in rows]
        assert len(origins) == len(set(origins))
        report = rig.run(run_id).report
        assert report["customers"]["failed"] == 0
        assert report["customers"]["imported"] == sum(1 for l in rig.links() if l.qbo_type == "Customer")


def test_matched_contact_keeps_the_portal_data_quickbooks_lacks(tmp_path: Path) -> None:
    """Matching links a portal user's own contact: QuickBooks' values are added, the user's are not blanked."""
    with connected_rig(tmp_path, "sqlite") as rig:
        customer = person_customer(rig)
        email = customer["PrimaryEmailAddr"]["Address"]
        _, b24 = rig.clients()
        existing = str(b24.call("crm.contact.add", {"fields": {
            "NAME": "Already", "SECOND_NAME": "Quincy", "POST": "Buyer", "COMMENTS": "Met at the fair",
            "EMAIL": [{"VALUE": email, "VALUE_TYPE": "WORK"}],
            "PHONE": [{"VALUE": "+1 555 777 0000", "VALUE_TYPE": "HOME"}]}}).result)
        assert not customer.get("MiddleName") and not customer.get("Notes") and customer.get("Active", True)

        status, run = sync(rig)
        assert status == "done" and run.report["customers"]["matched"] == 1
        after = b24.call("crm.contact.get", {"id": existing}).result
        assert after["SECOND_NAME"] == "Quincy" and after["POST"] == "Buyer"
        assert after["COMMENTS"] == "Met at the fair"
        phones = {p["VALUE"] for p in after["PHONE"]}
        assert "+1 555 777 0000" in phones and customer["PrimaryPhone"]["FreeFormNumber"] in phones
        assert [e["VALUE"] for e in after["EMAIL"]] == [email]


def test_resumed_page_adds_a_matched_company_person_once(tmp_path: Path) -> None:
    """The answer to the batch that matched a company and added its person is lost; the resumed page finds
    that person by its origin marker instead of adding a second one."""
    with connected_rig(tmp_path, "sqlite") as rig:
        qbo, b24 = rig.clients()
        customer = next(c for _, page in qbo.query_pages("Customer") for c in page
                        if not is_sub_customer(c) and c.get("CompanyName") and c.get("GivenName")
                        and c.get("PrimaryEmailAddr"))
        b24.call("crm.company.add", {"fields": {"TITLE": "Theirs", "EMAIL": [
            {"VALUE": customer["PrimaryEmailAddr"]["Address"], "VALUE_TYPE": "WORK"}]}})
        run_id, real_batch, lost = rig.new_run(), b24.batch, []

        def batch_then_drop(commands, halt=False):
            answer = real_batch(commands, halt)
            if not lost and any(method == "crm.company.update" for method, _ in dict(commands).values()):
                lost.append(1)
                raise requests.ConnectionError("connection reset")  # Bitrix24 did the writes
            return answer

        b24.batch = batch_then_drop
        with pytest.raises(requests.ConnectionError):
            run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24)
        _, healthy = rig.clients()
        assert run_full_sync(rig.sessions, run_id, qbo=qbo, b24=healthy) == "done"
        marker = f"Customer:{customer['Id']}:person"
        people = [r for r in b24_rows(healthy, "contact", ["ID", "ORIGIN_ID"]) if r["ORIGIN_ID"] == marker]
        assert len(people) == 1
        link = next(l for l in rig.links() if l.qbo_type == "CustomerPerson" and l.qbo_id == customer["Id"])
        assert link.b24_id == people[0]["ID"]


def test_a_run_after_one_that_failed_mid_page_finds_its_writes_instead_of_duplicating(tmp_path: Path) -> None:
    """A fatal answer after a page's batch was written fails the run with that page unbound; the next run
    (a new one: a failed run does not resume) must find those records by their markers, not create them again."""
    with connected_rig(tmp_path, "sqlite") as rig:
        qbo, b24 = rig.clients()
        run_id, real_batch, writes = rig.new_run(), b24.batch, []

        def batch_then_blocked(commands, halt=False):
            answer = real_batch(commands, halt)
            if any(method.endswith(".add") for method, _ in dict(commands).values()):
                writes.append(1)
                if len(writes) == 2:  # Bitrix24 did the writes, then the portal is blocked
                    raise OverloadLimit("OVERLOAD_LIMIT", "REST API is blocked due to overload.", 503)
            return answer

        b24.batch = batch_then_blocked
        assert run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24, page_size=20) == "failed"
        _, healthy = rig.clients()
        status, run = sync(rig, b24=healthy, page_size=20)
        assert status == "done" and run.report["customers"]["failed"] == 0
        rows = b24_rows(healthy, "contact", ["ID", "ORIGIN_ID"]) + b24_rows(healthy, "company", ["ID", "ORIGIN_ID"])
        origins = [r["ORIGIN_ID"] for r in rows]
        assert sorted(o for o in set(origins) if origins.count(o) > 1) == []
        assert len([l for l in rig.links() if l.qbo_type in ("Customer", "CustomerPerson")]) == len(origins)


def test_a_company_bitrix24_refuses_leaves_no_person_contact_behind(tmp_path: Path) -> None:
    """A mandatory company field refuses every company; the person contacts of those companies must not be
    created anyway (with no company), once per run."""
    with connected_rig(tmp_path, "sqlite") as rig:
        _, b24 = rig.clients()
        b24.call("crm.company.userfield.add", {"fields": {
            "FIELD_NAME": "QB24_REGION", "MANDATORY": "Y", "USER_TYPE_ID": "string", "EDIT_FORM_LABEL": "Region"}})
        rig.control("settings", {"req_uf_check": True})
        for _ in range(2):
            status, run = sync(rig)
            assert status == "done" and run.report["customers"]["failed"] > 0
        people = b24_rows(b24, "contact", ["ID", "ORIGIN_ID", "COMPANY_ID"])
        assert [p for p in people if str(p["ORIGIN_ID"]).endswith(":person")] == []


def test_a_refused_duplicate_search_fails_the_customer_instead_of_creating_a_duplicate(tmp_path: Path) -> None:
    """crm.duplicate.findbycomm refused (here: the sandbox refuses an unsupported communication type): "no
    match" is unknown, so the customer is reported failed, not created next to the portal's own contact."""
    with connected_rig(tmp_path, "sqlite") as rig:
        customer = person_customer(rig)
        email = customer["PrimaryEmailAddr"]["Address"]
        qbo, b24 = rig.clients()
        existing = str(b24.call("crm.contact.add", {"fields": {
            "NAME": "Already", "EMAIL": [{"VALUE": email, "VALUE_TYPE": "WORK"}]}}).result)
        real_batch = b24.batch

        def batch_refusing_findbycomm(commands, halt=False):
            commands = {name: (method, {**params, "type": "FAX"} if method == "crm.duplicate.findbycomm"
                               else params) for name, (method, params) in dict(commands).items()}
            return real_batch(commands, halt)

        b24.batch = batch_refusing_findbycomm
        run_id = rig.new_run()
        assert run_full_sync(rig.sessions, run_id, qbo=qbo, b24=b24) == "done"
        run = rig.run(run_id)
        failure = next(f for f in run.report["failures"] if f["qbo_id"] == customer["Id"])
        assert "duplicate" in failure["reason"] and "start the sync again" in failure["reason"]
        _, reader = rig.clients()
        holders = [c["ID"] for c in b24_rows(reader, "contact")
                   if any(e["VALUE"].casefold() == email.casefold() for e in c.get("EMAIL") or [])]
        assert holders == [existing]  # not created next to the portal's contact
        assert customer["Id"] not in {l.qbo_id for l in rig.links() if l.qbo_type == "Customer"}
        failed_ids = [(f["qbo_type"], f["qbo_id"]) for f in run.report["failures"]]
        assert len(failed_ids) == len(set(failed_ids)) == run.report["customers"]["failed"] + run.report[
            "invoices"]["failed"]

        status, again = sync(rig)  # the search answers again: the customer is matched, not duplicated
        assert status == "done" and again.report["customers"]["matched"] == 1
        link = next(l for l in rig.links() if l.qbo_type == "Customer" and l.qbo_id == customer["Id"])
        assert link.b24_id == existing
