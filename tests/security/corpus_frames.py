"""Forged installer and app-page POSTs (frame authentication, reference §1.1), the genuine but
powerless ones of non-admins, an unfinished install (item 7), and item 8's app.info burst."""
from __future__ import annotations

from tests.security.cases import HARMLESS, Case, headers, pairs
from webhooks.confirm_limit import CONFIRM_BURST

FRAME_ROUTES = ("/bitrix24/install", "/bitrix24/app")
QUERY = "?DOMAIN=portal.example&PROTOCOL=0&LANG=en&APP_SID=0123456789abcdef"
FORM_URLENCODED = headers(Content_Type="application/x-www-form-urlencoded")
# Past the per-address bucket (webhooks/confirm_limit.py: CONFIRM_BURST at once, then CONFIRM_RATE/s).
BURST = CONFIRM_BURST + 40


def frame(who: str, member: str, **changes: str | None) -> tuple[tuple[str, str], ...]:
    """The documented-shape frame POST of `who`'s tokens for portal `member`, fields changed or dropped."""
    fields: dict[str, str | None] = {
        "AUTH_ID": f"${{{who}.AUTH_ID}}", "AUTH_EXPIRES": "3600", "REFRESH_ID": f"${{{who}.REFRESH_ID}}",
        "SERVER_ENDPOINT": "${b24_oauth}/rest/", "member_id": f"${{{member}}}", "status": "L",
        "PLACEMENT": "DEFAULT", "PLACEMENT_OPTIONS": '{"any":"1\\/"}'}
    fields.update(changes)
    return pairs(fields)


FORGERIES: list[tuple[str, tuple[tuple[str, str], ...], int | None]] = [
    ("unknown member_id", frame("A.clerk", "X"), None),
    ("forged AUTH_ID", frame("A.clerk", "A", AUTH_ID="f0rged" + "0" * 26), None),
    ("AUTH_ID of portal B for portal A", frame("B.admin", "A"), None),
    ("AUTH_ID of another app", frame("A.otherapp", "A"), None),
    ("untrusted OAuth server", frame("A.clerk", "A", SERVER_ENDPOINT="http://127.0.0.1:9/rest/"), None),
    ("OAuth server URL with a query", frame("A.clerk", "A", SERVER_ENDPOINT="${b24_oauth}/rest/app.info.json?"), None),
    ("OAuth server URL unparseable", frame("A.clerk", "A", SERVER_ENDPOINT="http://[::1/rest/"), None),
    ("portal REST as OAuth server", frame("A.clerk", "A", SERVER_ENDPOINT="http://portal.example/rest/"), None),
    ("no AUTH_ID", frame("A.clerk", "A", AUTH_ID=None), None),
    ("no member_id", frame("A.clerk", "A", member_id=None), None),
    ("PLACEMENT_OPTIONS not JSON", frame("A.clerk", "A", PLACEMENT_OPTIONS="{not json"), None),
    ("PLACEMENT_OPTIONS nested too deep", frame("A.clerk", "A", PLACEMENT_OPTIONS="[" * 5000), None),
    ("AUTH_EXPIRES superscript digit", frame("A.clerk", "A", AUTH_EXPIRES="\u00b2"), None),
    ("AUTH_EXPIRES overflowing", frame("A.clerk", "A", AUTH_EXPIRES="9" * 40), None),
    ("member_id with NUL", frame("A.clerk", "A", member_id="${A}\x00"), 6),
    ("member_id 5000 characters", frame("A.clerk", "A", member_id="m" * 5000), 6),
    ("AUTH_ID with NUL", frame("A.clerk", "A", AUTH_ID="${A.clerk.AUTH_ID}\x00"), 6),
    ("AUTH_ID 5000 characters", frame("A.clerk", "A", AUTH_ID="a" * 5000), None),
    ("AUTH_ID revoked by C's uninstall", frame("C.old", "C"), None),
    ("AUTH_ID revoked by D's uninstall", frame("D.old", "D"), None),
    ("member_id as a list", frame("A.clerk", "A", member_id=None) + (("member_id[]", "${A}"),), None),
    ("member_id twice, unknown first", (("member_id", "${X}"),) + frame("A.clerk", "A"), None),
]


def forged_frames() -> list[Case]:
    """Every forgery on both frame routes: refused (4xx), nothing stored."""
    cases = [Case(f"frame {route} {name}", "POST", route + QUERY, form=fields, item=item)
             for route in FRAME_ROUTES for name, fields, item in FORGERIES]
    for route in FRAME_ROUTES:
        cases += [
            Case(f"frame {route} undecodable bytes", "POST", route + QUERY, headers=FORM_URLENCODED,
                 body=b"AUTH_ID=%ff%fe&member_id=%ff%00&REFRESH_ID=%c3%28"),
            Case(f"frame {route} JSON body", "POST", route + QUERY, body='{"AUTH_ID": "x", "member_id": "${A}"}',
                 headers=headers(Content_Type="application/json")),
        ]
    return cases


def powerless_frames() -> list[Case]:
    """Genuine POSTs of users who may open but not manage the app: served read-only, nothing stored."""
    return [
        Case("clerk opens the app", "POST", "/bitrix24/app" + QUERY, HARMLESS, form=frame("A.clerk", "A")),
        Case("clerk opens the installer of an installed app", "POST", "/bitrix24/install" + QUERY, HARMLESS,
             form=frame("A.clerk", "A")),
        Case("clerk's installer POST names an application token", "POST", "/bitrix24/install" + QUERY, HARMLESS,
             form=frame("A.clerk", "A", APPLICATION_TOKEN="chosen-by-the-clerk-0123456789")),
        Case("clerk's app POST with a script in LANG", "POST",
             "/bitrix24/app?LANG=%3Cscript%3Ealert(1)%3C%2Fscript%3E", HARMLESS, form=frame("A.clerk", "A"),
             checks=("not_reflected:<script>alert(1)</script>",)),
        Case("demoted admin opens the app again", "POST", "/bitrix24/app" + QUERY, HARMLESS,
             form=frame("B.demoted", "B")),
        Case("clerk opens the unfinished install's installer", "POST", "/bitrix24/install" + QUERY,
             form=frame("E.clerk", "E"), item=7),
        Case("clerk opens the app of an unfinished install", "POST", "/bitrix24/app" + QUERY,
             form=frame("E.clerk", "E"), item=7),
        Case("clerk's installer POST without REFRESH_ID, unfinished install", "POST", "/bitrix24/install" + QUERY,
             form=frame("E.clerk", "E", REFRESH_ID=None), item=7),
    ]


def app_info_burst() -> list[Case]:
    """Item 8: forged frame POSTs from one address must not each cost Bitrix24 an app.info call."""
    return [Case(f"burst {n:02d}", "POST", "/bitrix24/app" + QUERY, item=8, group="app_info_burst",
                 form=frame("A.clerk", "A", AUTH_ID=f"burst{n:03d}" + "0" * 24)) for n in range(BURST)]
