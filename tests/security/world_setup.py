"""Build the corpus's world through the real flows: portals A, B, C installed (admins, a clerk, a
demoted admin, a reinstall), D genuinely uninstalled with its data kept, E's install unfinished."""
from __future__ import annotations

import time
from urllib.parse import urlencode

import redis
import requests
from flask import Flask
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from qb24.stack import Stack
from store.db import make_engine, make_session_factory, transaction
from store.models import Link, SyncRun
from store.sync_log import record_failure
from tests.security.observe import AppLogs, TaskWatch, instrument
from tests.security.secrets_scan import harvest
from tests.security.world import World
from tests.webhooks.stack_support import (application_token, b24_control, documented_shape, install_app,
                                          install_fields, post_frame, read_portal, wait_for)
from webhooks.admin_checks import verdict_key
from webhooks.shared_cache import KEY_PREFIX
from workers.celery_app import EXPORT_RECORDS

SETTINGS_FORM = {"use_new_invoice": "true", "customer_rule": "always_companies", "export_new_contacts": "on",
                 "stage_unsent": "DT31_5:N", "stage_sent": "DT31_5:S", "stage_partially_paid": "DT31_5:S",
                 "stage_paid": "DT31_5:P", "stage_overdue": "DT31_5:N", "stage_voided": "DT31_5:D",
                 "stage_deleted": "DT31_5:D"}
OTHER_APP = ("local.someoneelse.1", "other-app-secret-0001")
GENUINE_EVENT_ID = "7"


def build_world(stack: Stack) -> World:
    """Instrument the stack, then walk every portal's setup; the logs are captured from the start."""
    recorder, calls = instrument(stack)
    world = World(stack, make_engine(stack.settings.database_url), recorder, calls, AppLogs(recorder),
                  TaskWatch(frozenset({EXPORT_RECORDS})))
    world.values |= {"app_url": stack.url, "b24_oauth": stack.b24.oauth_url, "X": "0" * 32,
                     "qbo.verifier": stack.settings.qbo_verifier_token,
                     "qbo.client_secret": stack.settings.qbo_client_secret}
    documented_shape(stack)  # every user's frame POST carries APPLICATION_TOKEN (reference §1.1)
    realms = stack.qbo.control("", method="GET")["realms"]
    world.values |= {"R1": realms[0], **{f"R{n}": _empty_realm(stack) for n in (2, 3, 4)}}
    return world


def _empty_realm(stack: Stack) -> str:
    return stack.qbo.control("realms", {"empty": True})["realm_id"]


def set_up_portals(world: World) -> None:
    """A, B, C installed; D uninstalled (data kept); E unfinished; then the forged values."""
    _portal_a(world)
    _portal_b(world)
    _portal_c(world)
    _portal_d(world)
    _portal_e(world)
    _forged_values(world)
    harvest(world.stack, world.secrets)


def _open(world: World, who: str, member_id: str, user_id: int = 1) -> str:
    """`user_id` opens the app in `who`'s browser; the page, whose tokens are remembered."""
    fields = _fields(world, who, member_id, user_id)
    page = post_frame(world.jar(who), world.url + "/bitrix24/app", fields)
    assert page.status_code == 200, (who, page.status_code, page.text[:300])
    world.remember_page(who, page.text)
    return page.text


def _fields(world: World, who: str, member_id: str, user_id: int = 1, client_id: str | None = None) -> dict:
    """A frame POST the portal would send for `user_id`; its tokens kept as `${who.AUTH_ID}` etc."""
    fields = b24_control(world.stack, f"portals/{member_id}/install",
                         {"client_id": client_id or world.stack.settings.b24_client_id, "user_id": user_id})
    world.values |= {f"{who}.{key}": fields["form"][key] for key in ("AUTH_ID", "REFRESH_ID", "APPLICATION_TOKEN")
                     if key in fields["form"]}
    return fields


def _user(world: World, member_id: str, admin: bool) -> int:
    return b24_control(world.stack, f"portals/{member_id}/users", {"admin": admin})["id"]


def _connect(world: World, who: str, realm: str) -> None:
    finished = world.finish(who, world.ticket(who, realm))
    assert finished.status_code == 200, (who, finished.status_code, finished.text[:200])


def _save_settings(world: World, who: str) -> None:
    saved = world.jar(who).post(world.url + "/bitrix24/app/settings", allow_redirects=False, timeout=15,
                                data={**SETTINGS_FORM, "csrf_token": world.values[f"{who}.csrf"]})
    assert saved.status_code == 303, saved.text[:300]


def _store_data(world: World, member_id: str) -> None:
    """A link, a finished run and a sync-log failure, as the sync engine leaves them (the data an uninstall
    may delete; the failure is what Retry names)."""
    portal_id = read_portal(world.stack, member_id).id
    with transaction(make_session_factory(world.engine)) as session:
        record_failure(session, portal_id, "Invoice", "130", "1037", "Currency EUR is not in this portal.")
        session.add(Link(portal_id=portal_id, qbo_type="Customer", qbo_id="58", b24_type="contact", b24_id="12"))
        session.add(SyncRun(portal_id=portal_id, kind="full", status="done",
                            counters={"imported": 1, "updated": 0, "skipped": 0, "failed": 0, "total": 1}))


def _portal_a(world: World) -> None:
    """The default portal: admin, a clerk, QuickBooks (R1), settings, data and a recorded event."""
    a = world.values["A"] = world.stack.b24.default_member_id
    install_app(world.stack, world.jar("A.admin"), a)
    _open(world, "A.admin", a)
    _connect(world, "A.admin", "R1")
    world.remember_page("A.admin", world.jar("A.admin").get(world.url + "/bitrix24/app", timeout=15).text)
    _save_settings(world, "A.admin")
    _store_data(world, a)
    _open(world, "A.clerk", a, _user(world, a, admin=False))
    world.values["A.app_token"] = application_token(world.stack, a)
    event = {"event": "ONCRMCONTACTADD", "ts": "1735689600", "auth[member_id]": a,
             "auth[application_token]": world.values["A.app_token"], "data[FIELDS][ID]": GENUINE_EVENT_ID}
    recorded = requests.post(world.url + "/webhooks/bitrix24", data=event, timeout=15)
    assert recorded.json().get("outcome") == "recorded", recorded.text
    world.stack.b24.register_app(*OTHER_APP, handler_url="http://127.0.0.1:9/other")
    _fields(world, "A.otherapp", a, client_id=OTHER_APP[0])


def _portal_b(world: World) -> None:
    """Admin connects R2; user "demoted", an admin when they opened the app and held a consent of
    their own company (R3), then loses the right in Bitrix24 (issue 8 item 3)."""
    b = world.values["B"] = world.stack.b24.create_portal().member_id
    install_app(world.stack, world.jar("B.admin"), b)
    _open(world, "B.admin", b)
    demoted = _user(world, b, admin=True)
    _open(world, "B.demoted", b, demoted)
    world.values["B.demoted.ticket"] = world.ticket("B.demoted", "R3")
    _connect(world, "B.admin", "R2")
    with transaction(make_session_factory(world.engine)) as session:  # B's own sync log: A's Retry cannot name it
        record_failure(session, read_portal(world.stack, b).id, "Invoice", "4242", "B's", "Refused.")
    world.remember_page("B.admin", world.jar("B.admin").get(world.url + "/bitrix24/app", timeout=15).text)
    world.values["B.app_token"] = application_token(world.stack, b)
    _fields(world, "B.admin", b)
    b24_control(world.stack, f"portals/{b}/users/{demoted}", {"admin": False})  # Bitrix24 takes the right
    users = b24_control(world.stack, f"portals/{b}/users", method="GET")
    assert [u["admin"] for u in users if u["id"] == demoted] == [False]
    _let_the_admin_verdict_lapse(world, b, str(demoted))


def _let_the_admin_verdict_lapse(world: World, member_id: str, user_id: str) -> None:
    """A minute passes: the app re-checks an admin right at most every RECHECK_SECONDS (issue 8 item 3
    allows that window), so the demoted user's cached "admin" verdict, seeded when they opened the
    app, is dropped here instead of waiting it out (the corpus runs on Redis, where it lives)."""
    install_id = read_portal(world.stack, member_id).install_id
    client = redis.Redis.from_url(world.stack.settings.redis_url)
    try:
        assert client.delete(KEY_PREFIX + "admin:" + verdict_key(member_id, install_id, user_id)) == 1
    finally:
        client.close()


def _uninstall(world: World, member_id: str) -> None:
    """Uninstall in Bitrix24 (data kept) and wait until the app has handled ONAPPUNINSTALL."""
    harvest(world.stack, world.secrets)  # Bitrix24 revokes the tokens now
    b24_control(world.stack, f"portals/{member_id}/uninstall",
                {"client_id": world.stack.settings.b24_client_id, "clean": False})
    wait_for(lambda: read_portal(world.stack, member_id).status == "uninstalled", "ONAPPUNINSTALL handled")


def _sent_body(world: World, member_id: str, event: str) -> str:
    query = urlencode({"member_id": member_id, "event": event})
    return b24_control(world.stack, f"events?{query}", method="GET")[0]["body"]


def _portal_c(world: World) -> None:
    """Installed, opened (that browser keeps its cookie), uninstalled, then reinstalled (item 4)."""
    c = world.values["C"] = world.stack.b24.create_portal().member_id
    install_app(world.stack, world.jar("C.stale"), c)
    _open(world, "C.stale", c)
    _fields(world, "C.old", c)
    world.values["C.old_app_token"] = application_token(world.stack, c)
    world.values["C.old_install_body"] = _sent_body(world, c, "ONAPPINSTALL")
    _uninstall(world, c)
    install_app(world.stack, world.jar("C.admin"), c)
    wait_for(lambda: read_portal(world.stack, c).application_token_enc, "the reinstall's ONAPPINSTALL")
    world.values["C.app_token"] = application_token(world.stack, c)


def _portal_d(world: World) -> None:
    """Installed, connected (R4), configured, then genuinely uninstalled with CLEAN=0 (item 2)."""
    d = world.values["D"] = world.stack.b24.create_portal().member_id
    install_app(world.stack, world.jar("D.stale"), d)
    _open(world, "D.stale", d)
    _connect(world, "D.stale", "R4")
    world.remember_page("D.stale", world.jar("D.stale").get(world.url + "/bitrix24/app", timeout=15).text)
    _save_settings(world, "D.stale")
    _store_data(world, d)
    _fields(world, "D.old", d)
    world.values["D.old_app_token"] = application_token(world.stack, d)
    _uninstall(world, d)
    body = _sent_body(world, d, "ONAPPUNINSTALL")
    assert "data%5BCLEAN%5D=0" in body, body
    world.values |= {"D.uninstall_body": body,
                     "D.uninstall_body_clean": body.replace("data%5BCLEAN%5D=0", "data%5BCLEAN%5D=1")}


def _portal_e(world: World) -> None:
    """Its administrator opened the installer but never finished; a clerk opens the app (item 7)."""
    e = world.values["E"] = world.stack.b24.create_portal().member_id
    install_fields(world.stack, e)
    _fields(world, "E.clerk", e, _user(world, e, admin=False))


def _forged_values(world: World) -> None:
    """What an attacker could hold: an expired link token, a cookie signed with another key."""
    secret = world.stack.settings.secret_key

    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 86400

    old = URLSafeTimedSerializer(secret, salt="qb24.link.connect", signer=Yesterday)
    world.values["A.t_expired"] = old.dumps([world.values["A"], "1"])
    other = Flask("forger")
    other.secret_key = "not-the-app-secret-key-0123456789"
    serializer = other.session_interface.get_signing_serializer(other)
    world.values["A.forged_cookie"] = serializer.dumps({"member_id": world.values["A"], "user_id": "1",
                                                        "admin": True, "csrf": "forged-csrf-0123456789"})
