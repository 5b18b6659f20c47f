"""ONCRMCONTACTADD / ONCRMCOMPANYADD in the captured shape (issue 11: recorded add events are queued for
the export worker): every field the real body has (reference bitrix24.md §3.2, fixtures/bitrix24/
captured-bodies), as a user's change (with `auth[access_token]`, `expires`, `expires_in`, `scope`,
`user_id`) and as a robot's (without them, §3.2 "No tokens are sent"). Forged, cross-portal and
malformed ones are refused; the genuine-token claims may record an event and nothing else.
corpus_events.py holds the shorter bodies of every event; these are the add events' own."""
from __future__ import annotations

import json

from tests.security.cases import CLAIM, HARMLESS, Case, headers, pairs

EVENTS = "/webhooks/bitrix24"
ADD_EVENTS = ("ONCRMCONTACTADD", "ONCRMCOMPANYADD")
RECORDED = frozenset({"received_events"})
CLERKS_TOKEN = "${A.clerk.APPLICATION_TOKEN}"  # = A's application token (documented shape, reference §1.1)
BIG = "x" * (1024 * 1024 + 10)  # over MAX_BODY_BYTES (1 MiB)


def captured(event: str, member: str, app_token: str | None, record_id: str | None, *, access: str | None,
             **changes: str | None) -> tuple[tuple[str, str], ...]:
    """The captured body's fields in its order, for portal `member`; `access` the user's access token
    (None: a robot's event, without the user's fields); `changes` by PHP-bracket name, None drops one."""
    user = {"auth[access_token]": access, "auth[expires]": "1727022526", "auth[expires_in]": "3600",
            "auth[scope]": "crm,placement,user_brief"} if access else {}
    fields: dict[str, str | None] = {
        "event": event, "event_handler_id": "58", "data[FIELDS][ID]": record_id, "ts": "1727018926", **user,
        "auth[domain]": "portal.example", "auth[server_endpoint]": "${b24_oauth}/rest/", "auth[status]": "L",
        "auth[client_endpoint]": "http://portal.example/rest/", "auth[member_id]": member,
        **({"auth[user_id]": "1"} if access else {}), "auth[application_token]": app_token}
    fields.update(changes)
    return pairs(fields)


SENDERS = {"user's": "${A.clerk.AUTH_ID}", "robot's": None}


def forged_adds() -> list[Case]:
    """A wrong, missing or other portal's application token, or an unknown portal: 401, nothing recorded;
    a genuine access token beside it changes nothing (the portal holds its application token)."""
    wrong = [("forged token", "${A}", "f" * 32), ("no token", "${A}", None), ("empty token", "${A}", ""),
             ("B's token for A", "${A}", "${B.app_token}"), ("A's token for B", "${B}", "${A.app_token}"),
             ("C's old token for C", "${C}", "${C.old_app_token}"), ("unknown portal, A's token", "${X}", "${A.app_token}"),
             ("E's unfinished install, forged token", "${E}", "f" * 32)]
    return [Case(f"add event {event} {sender} {name}", "POST", EVENTS, form=captured(event, member, token, "5",
                                                                                     access=access))
            for event in ADD_EVENTS for sender, access in SENDERS.items() for name, member, token in wrong]


def malformed_adds() -> list[Case]:
    """A's genuine token (any app user holds it) with a body Bitrix24 never sends: 4xx, nothing recorded."""
    bad = [("no ID", {"data[FIELDS][ID]": None}), ("ID not numeric", {"data[FIELDS][ID]": "5a"}),
           ("ID negative", {"data[FIELDS][ID]": "-5"}), ("ID empty", {"data[FIELDS][ID]": ""}),
           ("data a scalar", {"data[FIELDS][ID]": None, "data": "5"}),
           ("FIELDS a list", {"data[FIELDS][ID]": None, "data[FIELDS][]": "5"}),
           ("ID a map", {"data[FIELDS][ID]": None, "data[FIELDS][ID][x]": "5"}),
           ("ts an ISO date", {"ts": "2024-09-22T16:08:46Z"}), ("ts 30 digits", {"ts": "9" * 30}),
           ("body over 1 MB", {"data[FIELDS][COMMENTS]": BIG})]
    return [Case(f"add event {event} {sender} {name}", "POST", EVENTS,
                 form=captured(event, "${A}", CLERKS_TOKEN, "5", access=access, **changes))
            for event in ADD_EVENTS for sender, access in SENDERS.items() for name, changes in bad]


def _json_add(event: str) -> str:
    return json.dumps({"event": event, "data": {"FIELDS": {"ID": "5"}}, "ts": "1727018926",
                       "auth": {"member_id": "${A}", "application_token": CLERKS_TOKEN}})


def wrong_bodies() -> list[Case]:
    """The right fields in a body Bitrix24 does not send (§3.2: form-encoded): refused."""
    form_text = "&".join(f"{k}={v}" for k, v in captured("ONCRMCONTACTADD", "${A}", CLERKS_TOKEN, "5", access=None))
    return [Case(f"add event {event} as JSON", "POST", EVENTS, headers=headers(Content_Type="application/json"),
                 body=_json_add(event)) for event in ADD_EVENTS] + [
        Case("add event form sent as text/plain", "POST", EVENTS, headers=headers(Content_Type="text/plain"),
             body=form_text),
        Case("add event GET with the fields in the query", "GET", EVENTS + "?" + form_text.replace(CLERKS_TOKEN, "f" * 32)),
    ]


def genuine_adds() -> list[Case]:
    """The genuine token in both shapes: a claim, recorded at most (the worker reads the real record)."""
    return [Case(f"add event {event} {sender} genuine", "POST", EVENTS, CLAIM, may_change=RECORDED,
                 form=captured(event, "${A}", CLERKS_TOKEN, record_id, access=access))
            for (event, (sender, access)), record_id in zip(
                [(e, s) for e in ADD_EVENTS for s in SENDERS.items()], ("99990", "99991", "99992", "99993"))] + [
        Case("add event user's, delivered twice", "POST", EVENTS, HARMLESS,
             form=captured("ONCRMCONTACTADD", "${A}", CLERKS_TOKEN, "99990", access="${A.clerk.AUTH_ID}")),
    ]


def add_event_cases() -> list[Case]:
    return forged_adds() + malformed_adds() + wrong_bodies() + genuine_adds()
