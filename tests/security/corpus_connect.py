"""QuickBooks log in: forged link tokens, tampered and replayed callbacks (item 5), stolen and
replayed tickets, and the demoted admin's and stale session's consents (items 3 and 4)."""
from __future__ import annotations

from tests.security.cases import Case, form, headers

CALLBACK = "/quickbooks/callback"
STATE_CONSUMED = frozenset({"oauth_states"})
FORGED_STATE = "forged-state-" + "A" * 30


def forged_connects() -> list[Case]:
    """POST /quickbooks/connect needs a genuine, live link token of an installed portal's admin."""
    tokens = [("empty link token", ""), ("forged link token", "abc.def.ghi"),
              ("expired link token", "${A.t_expired}"), ("CSRF token as link token", "${A.admin.csrf}"),
              ("link token of uninstalled D", "${D.stale.t}"), ("link token with NUL", "${A.admin.t}\x00"),
              ("link token 5000 characters", "t" * 5000)]
    cases = [Case(f"connect {name}", "POST", "/quickbooks/connect", form=form(t=value)) for name, value in tokens]
    return cases + [
        Case("connect without a link token", "POST", "/quickbooks/connect"),
        Case("connect link token as a list", "POST", "/quickbooks/connect", form=(("t[]", "${A.admin.t}"),)),
        Case("connect JSON body", "POST", "/quickbooks/connect", body='{"t": "${A.t_expired}"}',
             headers=headers(Content_Type="application/json")),
        Case("connect clerk with admin's link token", "POST", "/quickbooks/connect", as_="A.clerk",
             form=form(t="${A.admin.t}")),
        Case("connect clerk without link token", "POST", "/quickbooks/connect", as_="A.clerk"),
    ]


def forged_callbacks() -> list[Case]:
    """Callbacks without this browser's live state are refused before anything is exchanged."""
    return [
        Case("callback without parameters", "GET", CALLBACK),
        Case("callback forged state, no cookie", "GET", f"{CALLBACK}?code=AB1forged&state={FORGED_STATE}&realmId=1"),
        Case("callback forged state and cookie", "GET", f"{CALLBACK}?code=AB1forged&state={FORGED_STATE}&realmId=1",
             headers=headers(Cookie=f"qb24_qbo_state={FORGED_STATE}")),
        Case("callback declined with forged state", "GET", f"{CALLBACK}?error=access_denied&state={FORGED_STATE}"),
        Case("callback forwarded to another browser", "GET",
             CALLBACK + "?code=${cb.code}&state=${cb.state}&realmId=${cb.realm}", prepare="consent:A.admin:R1"),
        Case("callback of A's consent in B's browser", "GET",
             CALLBACK + "?code=${cb.code}&state=${cb.state}&realmId=${cb.realm}", as_="B.admin",
             prepare="consent:A.admin:R1"),
        Case("callback without code", "GET", CALLBACK + "?state=${cb.state}&realmId=${cb.realm}", as_="A.admin",
             prepare="consent:A.admin:R1", may_change=STATE_CONSUMED),
        Case("callback with an error", "GET", CALLBACK + "?state=${cb.state}&error=server_error", as_="A.admin",
             prepare="consent:A.admin:R1", may_change=STATE_CONSUMED),
        # Another portal's company: refused, and the grant forgotten rather than revoked while that
        # portal's connection lives (docs/architecture.md, QuickBooks connect: UNCERTAIN revoke scope).
        Case("callback for a realm linked to portal A", "GET",
             CALLBACK + "?code=${cb.code}&state=${cb.state}&realmId=${cb.realm}", as_="B.admin",
             prepare="consent:B.admin:R1", may_change=STATE_CONSUMED | {"qbo_grants"}),
    ]


def tampered_callbacks() -> list[Case]:
    """Item 5: a tampered or replayed callback is 400, and a grant exchanged before the mismatch
    showed is revoked (the world check: no new live grant at Intuit)."""
    tampered = [("realmId of another company", "?code=${cb.code}&state=${cb.state}&realmId=${R2}", 5),
                ("unknown realmId", "?code=${cb.code}&state=${cb.state}&realmId=9130350000000000", 5),
                ("forged code", "?code=AB11forgedcode0123456789&state=${cb.state}&realmId=${cb.realm}", 5),
                ("realmId with NUL", "?code=${cb.code}&state=${cb.state}&realmId=${cb.realm}%00", 6),
                ("realmId 5000 digits", "?code=${cb.code}&state=${cb.state}&realmId=" + "1" * 5000, 6)]
    cases = [Case(f"callback {name}", "GET", CALLBACK + query, as_="A.admin", item=item,
                  prepare="consent:A.admin:R1", may_change=STATE_CONSUMED) for name, query, item in tampered]
    return cases + [Case("callback with a code already exchanged", "GET",
                         CALLBACK + "?code=${cb.code}&state=${cb.state}&realmId=${cb.realm}", as_="A.admin",
                         item=5, prepare="exchanged:A.admin:R1", may_change=STATE_CONSUMED)]


def forged_finishes() -> list[Case]:
    """POST /quickbooks/connect/finish: only the consenting admin's own framed session claims a ticket."""
    csrf = "${A.admin.csrf}"
    return [
        Case("finish without session", "POST", "/quickbooks/connect/finish", form=form(ticket="x" * 43)),
        Case("finish without CSRF", "POST", "/quickbooks/connect/finish", as_="A.admin", form=form(ticket="x" * 43)),
        Case("finish forged ticket", "POST", "/quickbooks/connect/finish", as_="A.admin",
             form=form(ticket="forged-ticket-0123456789", csrf_token=csrf)),
        Case("finish ticket with NUL", "POST", "/quickbooks/connect/finish", as_="A.admin",
             form=form(ticket="ticket\x00", csrf_token=csrf)),
        Case("finish ticket 5000 characters", "POST", "/quickbooks/connect/finish", as_="A.admin",
             form=form(ticket="k" * 5000, csrf_token=csrf)),
        Case("finish clerk claims admin's ticket", "POST", "/quickbooks/connect/finish", as_="A.clerk",
             form=form(ticket="${ticket}", csrf_token="${A.clerk.csrf}"), prepare="ticket:A.admin:R1"),
        # Claimed by the wrong session: the pending grant is dropped (and revoked unless live elsewhere).
        Case("finish B claims A's ticket", "POST", "/quickbooks/connect/finish", as_="B.admin",
             form=form(ticket="${ticket}", csrf_token="${B.admin.csrf}"), prepare="ticket:A.admin:R1",
             may_change=frozenset({"pending_connections"})),
        Case("finish replayed ticket", "POST", "/quickbooks/connect/finish", as_="A.admin",
             form=form(ticket="${ticket}", csrf_token=csrf), prepare="used_ticket:A.admin:R1"),
        Case("finish from uninstalled D's session", "POST", "/quickbooks/connect/finish", as_="D.stale",
             form=form(ticket="forged-ticket-0123456789", csrf_token="${D.stale.csrf}")),
    ]


def stale_connects() -> list[Case]:
    """Item 4: C's link token and session from before its reinstall start no consent."""
    return [
        Case("connect with C's pre-reinstall link token", "POST", "/quickbooks/connect", item=4,
             form=form(t="${C.stale.t}")),
        Case("connect from C's pre-reinstall session", "POST", "/quickbooks/connect", as_="C.stale", item=4,
             form=form(t="${C.stale.t}")),
    ]


def demoted_connects() -> list[Case]:
    """Item 3: connect → consent with the user's own company → finish must not link it."""
    return [
        Case("connect demoted admin's link token, their session", "POST", "/quickbooks/connect", as_="B.demoted",
             item=3, form=form(t="${B.demoted.t}")),
        Case("connect demoted admin's link token, new tab", "POST", "/quickbooks/connect", item=3,
             form=form(t="${B.demoted.t}")),
        Case("finish demoted admin's own consent (company R3)", "POST", "/quickbooks/connect/finish",
             as_="B.demoted", item=3, form=form(ticket="${B.demoted.ticket}", csrf_token="${B.demoted.csrf}"),
             may_change=frozenset({"pending_connections", "qbo_grants"})),
    ]


def connect_cases() -> list[Case]:
    return forged_connects() + forged_callbacks() + tampered_callbacks() + forged_finishes()
