"""Bitrix24 events (`POST /webhooks/bitrix24`, reference §3): forged, cross-portal, stale and
malformed ones, ONAPPINSTALL forgeries (item 7), NUL input (item 6), the weak application token's
claims (item 1) and the uninstalled portal's old token (item 2)."""
from __future__ import annotations

from tests.security.cases import CLAIM, HARMLESS, Case, b24_event, headers, pairs

EVENTS = "/webhooks/bitrix24"
FORM_URLENCODED = headers(Content_Type="application/x-www-form-urlencoded")
RECORDED = frozenset({"received_events"})
# The clerk's own frame POST handed them this (documented shape, reference §1.1).
CLERKS_TOKEN = "${A.clerk.APPLICATION_TOKEN}"
TOKEN_VARIANTS = {  # target portal -> (name, token) pairs none of which is that portal's current token
    target: [("forged", "f" * 32), ("empty", ""), ("missing", None), ("other portal's", other),
             ("stale", stale), ("with NUL", f"${{{target}.app_token}}\x00"), ("5000 characters", "a" * 5000)]
    for target, other, stale in (("A", "${B.app_token}", "${D.old_app_token}"),
                                 ("B", "${A.app_token}", "${C.old_app_token}"),
                                 ("C", "${A.app_token}", "${C.old_app_token}"))}
EVENT_SHAPES = {"ONAPPUNINSTALL": {"data__CLEAN": "1"}, "ONCRMCONTACTADD": {"data__FIELDS__ID": "5"},
                "ONCRMCOMPANYADD": {"data__FIELDS__ID": "5"}, "ONCRMDEALADD": {"data__FIELDS__ID": "5"},
                "ONAPPTEST": {}}


def forged_tokens() -> list[Case]:
    """Every event with every wrong token, on every installed portal: 401, nothing changes."""
    return [Case(f"event {name} {label} token for {target}", "POST", EVENTS,
                 form=b24_event(name, f"${{{target}}}", token, **extra))
            for target, variants in TOKEN_VARIANTS.items() for label, token in variants
            for name, extra in EVENT_SHAPES.items()]


def odd_senders() -> list[Case]:
    """Unknown portals, odd member ids and bodies that are not Bitrix24's form."""
    return [
        Case("event unknown portal with A's token", "POST", EVENTS,
             form=b24_event("ONAPPUNINSTALL", "${X}", "${A.app_token}")),
        Case("event member_id 5000 characters", "POST", EVENTS,
             form=b24_event("ONCRMCONTACTADD", "m" * 5000, "${A.app_token}")),
        Case("event member_id not ASCII", "POST", EVENTS,
             form=b24_event("ONCRMCONTACTADD", "\u00fc" * 32, "x" * 32)),
        Case("event member_id as a map", "POST", EVENTS,
             form=pairs({"event": "ONAPPUNINSTALL", "auth[member_id][x]": "${A}",
                         "auth[application_token]": "${A.app_token}"})),
        Case("event auth as a scalar", "POST", EVENTS, form=pairs({"event": "ONAPPUNINSTALL", "auth": "${A}"})),
        Case("event empty body", "POST", EVENTS),
        Case("event as JSON", "POST", EVENTS, headers=headers(Content_Type="application/json"),
             body='{"event": "ONAPPUNINSTALL", "auth": {"member_id": "${A}", "application_token": "forged"}}'),
        Case("event auth in the query string", "POST",
             EVENTS + "?event=ONAPPUNINSTALL&auth%5Bmember_id%5D=${A}&auth%5Bapplication_token%5D=forged"),
        Case("event undecodable bytes", "POST", EVENTS, headers=FORM_URLENCODED,
             body=b"event=ONAPPUNINSTALL&auth%5Bmember_id%5D=%ff%fe&auth%5Bapplication_token%5D=%c3%28"),
        Case("event brackets nested too deep", "POST", EVENTS,
             form=b24_event("ONCRMCONTACTADD", "${A}", "forged", **{"__".join(["data"] * 20): "1"})),
    ]


def nul_input() -> list[Case]:
    """Item 6: NUL is refused before it reaches the database; PostgreSQL would refuse it with a 500."""
    return [
        Case("event NUL in member_id (uninstall)", "POST", EVENTS, item=6,
             form=b24_event("ONAPPUNINSTALL", "${A}\x00", "${A.app_token}", data__CLEAN="1")),
        Case("event NUL in member_id (contact add)", "POST", EVENTS, item=6,
             form=b24_event("ONCRMCONTACTADD", "${A}\x00", "${A.app_token}", data__FIELDS__ID="5")),
        Case("event member_id a lone NUL", "POST", EVENTS, item=6,
             form=b24_event("ONCRMCOMPANYADD", "\x00", "x" * 32)),
        Case("event NUL in member_id with an access token", "POST", EVENTS, item=6,
             form=b24_event("ONCRMCONTACTADD", "\x00${A}", None, auth__access_token="${A.clerk.AUTH_ID}",
                            data__FIELDS__ID="5")),
        Case("event NUL in event name", "POST", EVENTS, HARMLESS, item=6,
             form=b24_event("ONCRM\x00CONTACTADD", "${A}", "${A.app_token}", data__FIELDS__ID="5")),
        Case("install event NUL in member_id", "POST", EVENTS, item=6,
             form=b24_event("ONAPPINSTALL", "${A}\x00", "attacker-token-0123456789",
                            auth__access_token="f" * 32)),
    ]


def malformed_with_genuine_token() -> list[Case]:
    """A genuine token with a body Bitrix24 never sends: 400, nothing recorded."""
    bad = [("data a scalar", {"data": "x"}), ("FIELDS a scalar", {"data__FIELDS": "x"}),
           ("ID not a number", {"data__FIELDS__ID": "abc"}), ("ID 40 digits", {"data__FIELDS__ID": "9" * 40}),
           ("ID with NUL", {"data__FIELDS__ID": "5\x00"}), ("no ID", {"data__FIELDS__NAME": "x"}),
           ("ts not unix time", {"data__FIELDS__ID": "5", "ts": "1e9"}),
           ("ts negative", {"data__FIELDS__ID": "5", "ts": "-1"})]
    return [Case(f"event contact add {name}", "POST", EVENTS,
                 form=b24_event("ONCRMCONTACTADD", "${A}", CLERKS_TOKEN, **extra)) for name, extra in bad]


def weak_token_claims() -> list[Case]:
    """What a clerk can do with the application token their frame POST handed them: claims only."""
    return [
        Case("clerk's token, contact add of a record nobody made", "POST", EVENTS, CLAIM, may_change=RECORDED,
             form=b24_event("ONCRMCONTACTADD", "${A}", CLERKS_TOKEN, data__FIELDS__ID="99999")),
        Case("clerk's token, company add", "POST", EVENTS, CLAIM, may_change=RECORDED,
             form=b24_event("ONCRMCOMPANYADD", "${A}", CLERKS_TOKEN, data__FIELDS__ID="99998")),
        Case("replayed contact add", "POST", EVENTS, HARMLESS,
             form=b24_event("ONCRMCONTACTADD", "${A}", CLERKS_TOKEN, data__FIELDS__ID="7")),
        Case("clerk's token, event not subscribed", "POST", EVENTS, HARMLESS,
             form=b24_event("ONCRMDEALADD", "${A}", CLERKS_TOKEN, data__FIELDS__ID="5")),
        Case("clerk's token, no event name", "POST", EVENTS, HARMLESS,
             form=b24_event("", "${A}", CLERKS_TOKEN)),
    ]


def _install(member: str, access: str | None, **extra: str) -> tuple[tuple[str, str], ...]:
    """An ONAPPINSTALL naming an application token of the sender's choice."""
    return b24_event("ONAPPINSTALL", member, "attacker-chosen-token-0123456789", auth__access_token=access,
                     auth__refresh_token="r" * 32, auth__expires_in="3600", **extra)


def install_forgeries() -> list[Case]:
    """ONAPPINSTALL proves itself through app.info and an administrator's token (item 7)."""
    forged = [("without access token", "A", None, None), ("forged access token", "A", "f" * 32, None),
              ("clerk's access token", "A", "${A.clerk.AUTH_ID}", 7),
              ("demoted admin's access token", "B", "${B.demoted.AUTH_ID}", None),
              ("B's admin token for A", "A", "${B.admin.AUTH_ID}", None),
              ("another app's token", "A", "${A.otherapp.AUTH_ID}", None),
              ("unknown portal", "X", "${A.clerk.AUTH_ID}", None),
              ("access token with NUL", "A", "${A.clerk.AUTH_ID}\x00", 6),
              ("clerk of an unfinished install", "E", "${E.clerk.AUTH_ID}", 7),
              ("with D's revoked token", "D", "${D.old.AUTH_ID}", 2)]
    cases = [Case(f"install event {name}", "POST", EVENTS, item=item, form=_install(f"${{{member}}}", access))
             for name, member, access, item in forged]
    return cases + [
        Case("install event untrusted server", "POST", EVENTS,
             form=_install("${A}", "${A.clerk.AUTH_ID}", auth__server_endpoint="http://127.0.0.1:9/rest/")),
        Case("install event clerk of an unfinished install, own token", "POST", EVENTS, item=7,
             form=b24_event("ONAPPINSTALL", "${E}", "${E.clerk.APPLICATION_TOKEN}",
                            auth__access_token="${E.clerk.AUTH_ID}")),
        Case("install event replayed from C's first install", "POST", EVENTS, headers=FORM_URLENCODED,
             body="${C.old_install_body}"),
    ]


def uninstalled_token() -> list[Case]:
    """Item 2: after D's uninstall (data kept) its old token authorises nothing; destructive ones last."""
    old = "${D.old_app_token}"
    return [
        Case("D's old token, contact add", "POST", EVENTS, item=2,
             form=b24_event("ONCRMCONTACTADD", "${D}", old, data__FIELDS__ID="5")),
        Case("D's old token, event not subscribed", "POST", EVENTS, item=2,
             form=b24_event("ONAPPTEST", "${D}", old)),
        Case("D's uninstall replayed", "POST", EVENTS, item=2, headers=FORM_URLENCODED,
             body="${D.uninstall_body}"),
        Case("D's uninstall replayed with CLEAN=1", "POST", EVENTS, item=2, headers=FORM_URLENCODED,
             body="${D.uninstall_body_clean}"),
        Case("D's old token, uninstall CLEAN=1", "POST", EVENTS, item=2,
             form=b24_event("ONAPPUNINSTALL", "${D}", old, data__CLEAN="1")),
    ]


def forged_uninstalls() -> list[Case]:
    """Item 1: the clerk's token forges an uninstall while the app is installed: no effect at all."""
    forged = (("uninstall CLEAN=0", "ONAPPUNINSTALL", "0"), ("uninstall CLEAN=Y", "ONAPPUNINSTALL", "Y"),
              ("lower-case uninstall CLEAN=1", "onappuninstall", "1"), ("uninstall CLEAN=1", "ONAPPUNINSTALL", "1"))
    return [Case(f"clerk's token forges {name}", "POST", EVENTS, CLAIM, item=1,
                 form=b24_event(event, "${A}", CLERKS_TOKEN, data__CLEAN=clean)) for name, event, clean in forged]


def event_cases() -> list[Case]:
    return (forged_tokens() + odd_senders() + nul_input() + malformed_with_genuine_token()
            + weak_token_claims() + install_forgeries())
