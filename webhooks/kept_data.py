"""What a reinstall does with the data an earlier install left: Bitrix24 itself says whether it goes.

An uninstall event's CLEAN is a claim anyone who opened the app can forge (reference §1.1), so the
data is never deleted on it (webhooks/uninstall.py). Bitrix24 deletes the app's `app.option` values
on an uninstall with CLEAN and keeps them without (§1.4, "a reinstall on the same portal gets access
to them again"), and `app.option.set` is administrator-only (§1.5). So every install writes the
marker option MARKER (in bind_handlers' batch), and a reinstall of a portal that holds data reads it
with the installing administrator's token: gone → the last uninstall was CLEAN → the kept links,
runs, events, settings and QuickBooks connection are deleted and its grant revoked; there → kept.

Only a portal whose uninstall Bitrix24 confirmed (stopped) is decided; one still marked installed
keeps its data (an app update runs the installer too). Until a reinstall, an uninstalled portal's
data and QuickBooks grant stay (operators may purge portals uninstalled for longer than they care
to keep them). A stopped portal last installed before the marker existed reads as CLEAN.
"""
from __future__ import annotations

import logging

import requests
from flask_babel import gettext as _

from store.db import transaction
from store.lifecycle import connection_of, connection_tokens, delete_portal_data
from store.pending_connections import drop_pending_of, revocable
from store.portals import portal_by_member_id
from webhooks.bitrix24_events import revoke_later, revoke_pending
from webhooks.errors import PageError
from webhooks.frame_auth import FramePost
from webhooks.runtime import runtime
from webhooks.services import token_cipher

log = logging.getLogger("qb24.b24.kept_data")
MARKER = "qb24_install"
TIMEOUT = (5, 15)


def marker_command(install_id: str) -> tuple[str, dict]:
    """The batch command that writes this install's marker (administrator only, reference §1.5)."""
    return "app.option.set", {"options": {MARKER: install_id}}


def holds_earlier_data(post: FramePost) -> bool:
    """Whether the portal holds data from an install Bitrix24 confirmed as ended (a stopped portal).

    A portal still marked installed whose install Bitrix24 reports unfinished is left alone: it may
    be an app update (whose installer runs again, reference §3.1) or a portal from before the
    marker existed, and keeping data is the reversible choice (its uninstall event, if lost, is
    then decided by nobody: the data stays, as after a CLEAN=0 uninstall).
    """
    with runtime().sessions() as session:
        portal = portal_by_member_id(session, post.member_id)
        return portal is not None and portal.status != "installed"


def options_kept(post: FramePost) -> bool:
    """`app.option.get` with the installer's token: whether the marker survived the last uninstall."""
    try:
        response = requests.post(f"{post.client_endpoint}app.option.get.json", timeout=TIMEOUT,
                                 json={"auth": post.auth.access_token, "option": MARKER}, allow_redirects=False)
        body = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError):
        body = None
    if not isinstance(body, dict) or "result" not in body:
        log.warning("b24.install.options_unread", extra={"member_id": post.member_id})
        raise PageError(502, _("Bitrix24 did not say whether the app's earlier data was kept. Please try again."))
    return body["result"] not in (None, "", [], {})


def forget_earlier_data(member_id: str) -> None:
    """The last uninstall was CLEAN: delete what it left and revoke the kept QuickBooks grant."""
    with transaction(runtime().sessions) as session:
        portal = portal_by_member_id(session, member_id)
        if portal is None:
            return
        connection = connection_of(session, portal.id)
        if connection is not None:
            revoke_later(session, connection_tokens(connection, token_cipher()), "uninstall")
        for grant in revocable(session, drop_pending_of(session, portal.id, token_cipher())):
            revoke_later(session, grant, "uninstall")  # consents nobody can finish any more
        delete_portal_data(session, portal)
    revoke_pending(session)
    log.info("b24.install.earlier_data_deleted", extra={"member_id": member_id})
