"""The Create Invoice toolbar item (`POST /placements/create-invoice`, issue 11 item 3; reference
bitrix24.md §4): the frame POST of a card's toolbar, forged, cross-portal, malformed and oversized;
genuine clicks that must change nothing (a record nobody can find, a contact already linked).

A click's body is the app page's frame POST (§1.1) with `PLACEMENT` a `CRM_*_DETAIL_TOOLBAR` code and
`PLACEMENT_OPTIONS` a JSON string whose `ID` is a string, e.g. `{"ID":"8061","URI":"\\/crm\\/deal\\/details\\/8061\\/"}`
(§4, "What the handler gets on click"). Bitrix24 sends this route nothing else: any other PLACEMENT,
or options without a numeric ID, is malformed (4xx), not a page to serve.
"""
from __future__ import annotations

from tests.security.cases import HARMLESS, Case, headers
from tests.security.corpus_frames import FORGERIES, QUERY, frame

CREATE_INVOICE = "/placements/create-invoice"
TOOLBAR = "CRM_CONTACT_DETAIL_TOOLBAR"
OPTIONS = '{"ID":"12","URI":"\\/crm\\/contact\\/details\\/12\\/"}'  # contact 12: linked in A (world_setup)
FRAME_DEFAULTS = dict(frame("A.clerk", "A"))
BIG = "x" * (1024 * 1024 + 10)  # over MAX_BODY_BYTES (1 MiB)


def click(who: str, member: str, **changes: str | None) -> tuple[tuple[str, str], ...]:
    """`who`'s click on a contact card's Create Invoice item of portal `member`, fields changed or dropped."""
    return frame(who, member, **{"PLACEMENT": TOOLBAR, "PLACEMENT_OPTIONS": OPTIONS, **changes})


def _as_click(fields: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """An app-page forgery of corpus_frames as a toolbar click: the placement fields it left as the
    app page's become a contact card's."""
    toolbar = {"PLACEMENT": TOOLBAR, "PLACEMENT_OPTIONS": OPTIONS}
    return tuple((k, toolbar[k] if k in toolbar and v == FRAME_DEFAULTS[k] else v) for k, v in fields)


def forged_clicks() -> list[Case]:
    """Every forgery of the app page's frame POST, as a click: refused, nothing stored or created."""
    return [Case(f"create invoice {name}", "POST", CREATE_INVOICE + QUERY, form=_as_click(fields), item=item)
            for name, fields, item in FORGERIES]


def malformed_clicks() -> list[Case]:
    """A genuine token (A's clerk) with a click Bitrix24 never sends."""
    bad: list[tuple[str, dict[str, str | None]]] = [
        ("PLACEMENT the app page's", {"PLACEMENT": "DEFAULT"}),
        ("PLACEMENT missing", {"PLACEMENT": None}),
        ("PLACEMENT a card tab", {"PLACEMENT": "CRM_CONTACT_DETAIL_TAB"}),
        ("PLACEMENT a quote toolbar", {"PLACEMENT": "CRM_QUOTE_DETAIL_TOOLBAR"}),
        ("PLACEMENT lower case", {"PLACEMENT": "crm_contact_detail_toolbar"}),
        ("PLACEMENT_OPTIONS missing", {"PLACEMENT_OPTIONS": None}),
        ("PLACEMENT_OPTIONS empty", {"PLACEMENT_OPTIONS": ""}),
        ("PLACEMENT_OPTIONS not JSON", {"PLACEMENT_OPTIONS": "{ID:12"}),
        ("PLACEMENT_OPTIONS nested too deep", {"PLACEMENT_OPTIONS": '{"ID":' + "[" * 5000}),
        ("PLACEMENT_OPTIONS a JSON list", {"PLACEMENT_OPTIONS": '["12"]'}),
        ("PLACEMENT_OPTIONS a JSON string", {"PLACEMENT_OPTIONS": '"12"'}),
        ("PLACEMENT_OPTIONS without ID", {"PLACEMENT_OPTIONS": '{"URI":"\\/crm\\/contact\\/details\\/12\\/"}'}),
        ("ID not numeric", {"PLACEMENT_OPTIONS": '{"ID":"12abc"}'}),
        ("ID negative", {"PLACEMENT_OPTIONS": '{"ID":"-12"}'}),
        ("ID empty", {"PLACEMENT_OPTIONS": '{"ID":""}'}),
        ("ID 40 digits", {"PLACEMENT_OPTIONS": '{"ID":"' + "9" * 40 + '"}'}),
        ("ID a float", {"PLACEMENT_OPTIONS": '{"ID":"12.5"}'}),
        ("ID an object", {"PLACEMENT_OPTIONS": '{"ID":{"ID":"12"}}'}),
        ("ID a list", {"PLACEMENT_OPTIONS": '{"ID":["12","13"]}'}),
        ("ID with NUL", {"PLACEMENT_OPTIONS": '{"ID":"12\\u0000"}'}),
        ("ID superscript digit", {"PLACEMENT_OPTIONS": '{"ID":"\\u00b2"}'}),
        ("ID a filter expression", {"PLACEMENT_OPTIONS": '{"ID":">0"}'}),
    ]
    return [Case(f"create invoice {name}", "POST", CREATE_INVOICE + QUERY, form=click("A.clerk", "A", **changes))
            for name, changes in bad]


def odd_requests() -> list[Case]:
    """Cross-portal, stale, oversized, wrong method, wrong body."""
    return [
        Case("create invoice A's genuine token naming portal B", "POST", CREATE_INVOICE + QUERY,
             form=click("A.clerk", "B")),
        Case("create invoice B's admin token naming portal A", "POST", CREATE_INVOICE + QUERY,
             form=click("B.admin", "A")),
        Case("create invoice D's token after its uninstall", "POST", CREATE_INVOICE + QUERY,
             form=click("D.old", "D")),
        Case("create invoice clerk of E's unfinished install", "POST", CREATE_INVOICE + QUERY,
             form=click("E.clerk", "E"), item=7),
        Case("create invoice body over 1 MB", "POST", CREATE_INVOICE + QUERY,
             form=click("A.clerk", "A", PLACEMENT_OPTIONS='{"ID":"12","URI":"' + BIG + '"}')),
        Case("create invoice JSON body", "POST", CREATE_INVOICE + QUERY,
             headers=headers(Content_Type="application/json"),
             body='{"AUTH_ID": "${A.clerk.AUTH_ID}", "member_id": "${A}", "PLACEMENT": "' + TOOLBAR
                  + '", "PLACEMENT_OPTIONS": {"ID": "12"}}'),
        Case("create invoice empty body", "POST", CREATE_INVOICE + QUERY),
        Case("create invoice GET with the fields in the query", "GET",
             # a made-up AUTH_ID: a genuine one in a URL would reach the access log, as anything in a URL does
             CREATE_INVOICE + QUERY + "&AUTH_ID=" + "f" * 32 + "&member_id=${A}&PLACEMENT=" + TOOLBAR
             + "&PLACEMENT_OPTIONS=%7B%22ID%22%3A%2212%22%7D"),
        Case("create invoice PUT", "PUT", CREATE_INVOICE + QUERY, form=click("A.clerk", "A")),
    ]


def genuine_clicks() -> list[Case]:
    """A's clerk really clicks: on a contact already linked (its customer named, nothing created) and on
    records that do not exist (a clear page). Any answer < 500; nothing may change."""
    return [
        Case("create invoice clerk on a linked contact", "POST", CREATE_INVOICE + QUERY, HARMLESS,
             form=click("A.clerk", "A")),
        Case("create invoice clerk on a contact that does not exist", "POST", CREATE_INVOICE + QUERY, HARMLESS,
             form=click("A.clerk", "A", PLACEMENT_OPTIONS='{"ID":"99999"}')),
        Case("create invoice clerk on a deal that does not exist", "POST", CREATE_INVOICE + QUERY, HARMLESS,
             form=click("A.clerk", "A", PLACEMENT="CRM_DEAL_DETAIL_TOOLBAR", PLACEMENT_OPTIONS='{"ID":"99999"}')),
    ]


def placement_cases() -> list[Case]:
    return forged_clicks() + malformed_clicks() + odd_requests() + genuine_clicks()
