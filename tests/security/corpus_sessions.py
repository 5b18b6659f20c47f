"""The session routes: reads and state-changing POSTs from missing, forged, foreign, stale, non-admin
and demoted sessions (items 3 and 4), and malformed settings from a genuine administrator."""
from __future__ import annotations

from tests.security.cases import JSON, Case, form, headers

READS = ("/bitrix24/app", "/bitrix24/app/status", "/bitrix24/app/progress", "/bitrix24/app/logout")
RETRY = "/bitrix24/app/sync/retry"
CANCEL = "/bitrix24/app/sync/cancel"
WRITES = ("/bitrix24/app/settings", "/bitrix24/app/sync", RETRY, CANCEL, "/quickbooks/disconnect")
NO_SUCH_RUN = "999999999"  # the world has no queued run: a refused cancel must name one that cannot be A's
SETTINGS = {"use_new_invoice": "true", "customer_rule": "by_company_name", "stage_unsent": "DT31_5:N",
            "stage_sent": "DT31_5:S", "stage_partially_paid": "DT31_5:S", "stage_paid": "DT31_5:P",
            "stage_overdue": "DT31_5:S", "stage_voided": "DT31_5:D", "stage_deleted": "DT31_5:D"}
FORGED_COOKIE = headers(Cookie="qb24_session=${A.forged_cookie}")
GARBAGE_COOKIE = headers(Cookie="qb24_session=eyJhZG1pbiI6dHJ1ZX0.ZZZZZZ.forgedsignature")


def _write_form(route: str, csrf: str | None, **extra: str) -> tuple[tuple[str, str], ...]:
    fields = dict(SETTINGS) if route.endswith("/settings") else {}
    if route == RETRY:  # a row of A's sync log (tests/security/world_setup.py)
        fields = {"qbo_type": "Invoice", "qbo_id": "130"}
    if route == CANCEL:
        fields = {"run_id": NO_SUCH_RUN}
    return form(**fields, csrf_token=csrf, **extra)


def forged_reads() -> list[Case]:
    """Reads need a live session of the portal they name."""
    contexts = [
        ("no session", "anon", "", (), None),
        ("cookie signed with another key", "anon", "", FORGED_COOKIE, None),
        ("garbage cookie", "anon", "", GARBAGE_COOKIE, None),
        ("admin A naming portal B", "A.admin", "?member_id=${B}", (), None),
        ("clerk A naming portal B", "A.clerk", "?member_id=${B}", (), None),
        ("admin B naming portal A", "B.admin", "?member_id=${A}", (), None),
        ("admin A naming A with NUL", "A.admin", "?member_id=${A}%00", (), 6),
        ("session of uninstalled D", "D.stale", "", (), None),
        ("session from before C's reinstall", "C.stale", "", (), 4),
    ]
    return [Case(f"read {route} {name}", "GET", route + query, as_=jar, headers=extra, item=item)
            for route in READS for name, jar, query, extra, item in contexts]


def forged_writes() -> list[Case]:
    """State-changing POSTs need an administrator's live session of the portal and its CSRF token."""
    contexts = [
        ("no session", "anon", "${A.admin.csrf}", {}, ()),
        ("cookie signed with another key", "anon", "forged-csrf-0123456789", {}, FORGED_COOKIE),
        ("no CSRF token", "A.admin", None, {}, ()),
        ("wrong CSRF token", "A.admin", "wrong-csrf-token-0123456789", {}, ()),
        ("wrong CSRF header", "A.admin", None, {}, headers(X_CSRF_Token="wrong-csrf-token-0123456789")),
        ("CSRF token of B's session", "A.admin", "${B.admin.csrf}", {}, ()),
        ("CSRF token with NUL", "A.admin", "${A.admin.csrf}\x00", {}, ()),
        ("admin A naming portal B", "A.admin", "${A.admin.csrf}", {"member_id": "${B}"}, ()),
        ("admin B naming portal A", "B.admin", "${B.admin.csrf}", {"member_id": "${A}"}, ()),
        ("clerk with own CSRF", "A.clerk", "${A.clerk.csrf}", {}, ()),
        ("clerk with admin's CSRF", "A.clerk", "${A.admin.csrf}", {}, ()),
        ("session of uninstalled D", "D.stale", "${D.stale.csrf}", {}, ()),
    ]
    cases = [Case(f"write {route} {name}", "POST", route, as_=jar, form=_write_form(route, csrf, **extra),
                  headers=extra_headers)
             for route in WRITES for name, jar, csrf, extra, extra_headers in contexts]
    cases += [Case(f"write {route} clerk, JSON", "POST", route, as_="A.clerk", headers=JSON,
                   form=_write_form(route, "${A.clerk.csrf}")) for route in WRITES]
    return cases


def malformed_settings() -> list[Case]:
    """A genuine administrator's bad input: 400, nothing saved, nothing reflected unescaped."""
    script = "<script>alert(1)</script>"
    bad = [("customer rule script", {"customer_rule": script}, None),
           ("stage not of this portal", {"stage_paid": "NOT_A_STAGE"}, None),
           ("stage with NUL", {"stage_paid": "DT31_5:P\x00"}, 6),
           ("stage 5000 characters", {"stage_paid": "S" * 5000}, None),
           ("invoice kind not a boolean", {"use_new_invoice": "maybe"}, None),
           ("stage map of another status", {"stage_unsent": script}, None)]
    return [Case(f"settings {name}", "POST", "/bitrix24/app/settings", as_="A.admin", item=item,
                 form=form(**{**SETTINGS, **changes}, csrf_token="${A.admin.csrf}"),
                 checks=(f"not_reflected:{script}",)) for name, changes, item in bad]


def malformed_retries() -> list[Case]:
    """A genuine administrator's Retry of what is not a row of the portal's own sync log: 404 or 400, nothing queued."""
    bad = [("B's failure", {"qbo_id": "4242"}), ("not in the log", {"qbo_id": "131"}),
           ("a vendor", {"qbo_type": "Vendor"}), ("a payment", {"qbo_type": "Payment"}),
           ("id with SQL", {"qbo_id": "130' OR '1'='1"}), ("id with NUL", {"qbo_id": "130\x00"}),
           ("id 5000 digits", {"qbo_id": "1" * 5000}), ("no record named", {"qbo_type": None, "qbo_id": None})]
    return [Case(f"retry {name}", "POST", RETRY, as_="A.admin",
                 form=form(**{"qbo_type": "Invoice", "qbo_id": "130", **changes}, csrf_token="${A.admin.csrf}"))
            for name, changes in bad]


def malformed_cancels() -> list[Case]:
    """A genuine administrator's cancel of what is not a run of the portal's: 404 or 400, nothing changed."""
    bad = [("a run of no portal", NO_SUCH_RUN), ("id with SQL", "1' OR '1'='1"), ("id with NUL", "1\x00"),
           ("id 5000 digits", "1" * 5000), ("negative id", "-1"), ("no run named", None)]
    return [Case(f"cancel {name}", "POST", CANCEL, as_="A.admin",
                 form=form(run_id=run_id, csrf_token="${A.admin.csrf}"))
            for name, run_id in bad]


def stale_session() -> list[Case]:
    """Item 4: a session from before an uninstall does not come back with the reinstall."""
    return [Case(f"C's pre-reinstall session {route}", "POST", route, as_="C.stale", item=4,
                 form=_write_form(route, "${C.stale.csrf}")) for route in WRITES]


def demoted_admin() -> list[Case]:
    """Item 3: Bitrix24 took user "demoted"'s admin right after their session began; disconnect last."""
    return [Case(f"demoted admin {route}", "POST", route, as_="B.demoted", item=3,
                 form=_write_form(route, "${B.demoted.csrf}"))
            for route in ("/bitrix24/app/settings", "/bitrix24/app/sync", RETRY, CANCEL)]


def demoted_disconnect() -> list[Case]:
    return [Case("demoted admin disconnects QuickBooks", "POST", "/quickbooks/disconnect", as_="B.demoted",
                 item=3, form=form(csrf_token="${B.demoted.csrf}"), headers=JSON)]


def session_cases() -> list[Case]:
    return forged_reads() + forged_writes() + malformed_settings() + malformed_retries() + malformed_cancels()
