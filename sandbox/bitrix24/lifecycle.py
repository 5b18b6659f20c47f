"""App install, installFinish and uninstall on a portal, shared by the pages and the control API."""
from __future__ import annotations

import json
import time

from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.events import EventSender, app_install_body, app_uninstall_body
from sandbox.bitrix24.state import Install, Portal, SentEvent, State, User, token_hex


def portal_user(portal: Portal, user_id: int) -> User:
    """The portal user a page or frame is issued for; 404 for one the portal does not have."""
    user = portal.users.get(user_id)
    if user is None or user.system:  # a system user is not a person and signs in nowhere (system-user.md)
        raise RestError(404, "USER_NOT_FOUND", f"No user {user_id} on portal {portal.member_id}")
    if not user.active:
        raise RestError(403, "USER_INACTIVE", f"User {user_id} was terminated and cannot sign in")
    return user


def frame_fields(state: State, portal: Portal, install: Install, placement: str = "DEFAULT",
                 options: dict | None = None, lang: str | None = None, user_id: int = 1) -> dict:
    """Query + body of the POST that opens an app page, installer or widget in the iframe, as `user_id`;
    LANG is the user's interface language unless `lang` names another."""
    user = portal_user(portal, user_id)
    lang = lang or user.language
    token = state.issue_token(portal.member_id, install.client_id, user.id)
    app_sid = token_hex(16)
    if options is None:
        # The captured DEFAULT body carries PLACEMENT_OPTIONS={"any":"28\/"} (the app's path id).
        options = {"any": f"{portal.installs_index(install.client_id)}/"}
    query = {"DOMAIN": portal.domain, "PROTOCOL": "0", "LANG": lang, "APP_SID": app_sid}
    app = state.apps[install.client_id]
    form = {"AUTH_ID": token.access_token, "AUTH_EXPIRES": str(state.token_lifetime),
            "REFRESH_ID": token.refresh_token}
    if app.switches.installer_shape == "documented":
        # DOCS simple-way.md / widget_data.md: the longer shape, in the documented key order.
        form |= {"SERVER_ENDPOINT": f"{state.oauth_url}/rest/", "APPLICATION_TOKEN": install.application_token,
                 "APPLICATION_SCOPE": token.scope}
    # The captured body (fixtures install_or_placement_DEFAULT.*) stops here: no application token.
    form |= {"member_id": portal.member_id, "status": app.status, "PLACEMENT": placement,
             "PLACEMENT_OPTIONS": json.dumps(options, separators=(",", ":")).replace("/", "\\/")}
    portal.sessions[app_sid] = {"client_id": install.client_id, "placement": placement,
                                "options": options, "form": form, "query": query, "user_id": user.id}
    return {"app_sid": app_sid, "handler_url": install.handler_url, "query": query, "form": form,
            "user_id": user.id, "is_admin": user.admin}


def begin_install(state: State, portal: Portal, client_id: str, handler_url: str | None,
                  user_id: int = 1) -> dict:
    """Create (or reopen) an install and return the installer iframe's POST fields (for `user_id`)."""
    with state.lock:
        app = state.apps.get(client_id)
        if app is None:
            raise RestError(404, "APP_NOT_FOUND", f"No app registered with client_id {client_id}")
        portal_user(portal, user_id)  # before anything is created
        install = portal.installs.get(client_id)
        if install is None:
            url = handler_url or app.handler_url
            if not url:
                raise RestError(400, "HANDLER_REQUIRED", "handler_url is required")
            install = Install(client_id, url, token_hex(16))
            install.options = portal.kept_options.pop(client_id, {})
            portal.installs[client_id] = install
        elif handler_url:
            install.handler_url = handler_url
        return frame_fields(state, portal, install, user_id=user_id)


def finish_install(state: State, sender: EventSender, portal: Portal, client_id: str) -> None:
    """BX24.installFinish(): mark installed, send ONAPPINSTALL (after the app's `install_event_delay`)."""
    with state.lock:
        install = portal.installs.get(client_id)
        if install is None:
            raise RestError(404, "APP_NOT_INSTALLED", "The app is not installed on this portal")
        if install.installed:
            return
        install.installed = True
        app = state.apps[client_id]
        targets: list[tuple[str, int | None]] = []
        if app.install_event_url:
            targets.append((app.install_event_url, None))
        targets += [(b.handler, b.id) for b in install.events if b.event == "ONAPPINSTALL"]
        for url, handler_id in targets:
            body = app_install_body(state, portal, install, handler_id)
            sender.enqueue(SentEvent(portal.member_id, client_id, "ONAPPINSTALL", url, body, time.time()),
                           delay=app.switches.install_event_delay)


def uninstall(state: State, sender: EventSender, portal: Portal, client_id: str, clean: bool) -> None:
    """Remove an app: ONAPPUNINSTALL, drop handlers/placements/tokens, keep options unless CLEAN."""
    with state.lock:
        install = portal.installs.pop(client_id, None)
        if install is None:
            raise RestError(404, "APP_NOT_INSTALLED", "The app is not installed on this portal")
        for binding in install.events:
            if binding.event == "ONAPPUNINSTALL":
                body = app_uninstall_body(state, portal, install, clean, binding.id)
                sender.enqueue(SentEvent(portal.member_id, client_id, "ONAPPUNINSTALL",
                                         binding.handler, body, time.time()))
        # An ONAPPINSTALL still waiting for its delay is not withdrawn: whether Bitrix24's queue server
        # drops it when the app goes within that time is unknown, so the late event may still arrive.
        if not clean:
            portal.kept_options[client_id] = install.options
        state.revoke(portal.member_id, client_id)
