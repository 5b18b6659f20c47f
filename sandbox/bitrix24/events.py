"""Outbound event delivery: form-encoded POSTs from a background queue, never retried."""
from __future__ import annotations

import logging
import queue
import threading
import time

import requests

from sandbox.bitrix24.params import php_encode
from sandbox.bitrix24.state import EventBinding, Install, OutgoingWebhook, Portal, SentEvent, State

log = logging.getLogger("sandbox.bitrix24.events")


class EventSender:
    """Queues event POSTs and delivers them from one worker thread, like the queue server."""

    def __init__(self, state: State, timeout: float = 5.0) -> None:
        self.state = state
        self.timeout = timeout
        self._queue: queue.Queue[SentEvent | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()
        self._generation = 0  # bumped by cancel_pending: a timer of an older generation hands nothing over
        self.timer_name = f"b24-event-delay-{id(self):x}"

    def start(self) -> None:
        """Start the delivery thread."""
        self._thread = threading.Thread(target=self._run, name="b24-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the delivery thread after the queued events; delayed ones are cancelled."""
        with self._lock:
            self._cancel_timers()
        if self._thread:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def enqueue(self, record: SentEvent, delay: float = 0.0) -> None:
        """Record an event and queue it for delivery, `delay` seconds from now (the queue server's lag)."""
        with self.state.lock:
            self.state.sent_events.append(record)
        if delay <= 0:
            self._queue.put(record)
            return
        with self._lock:
            timer = threading.Timer(delay, self._release, args=(record, self._generation))
            timer.name, timer.daemon = self.timer_name, True
            self._timers.add(timer)
            timer.start()

    def cancel_pending(self) -> None:
        """Forget what the old world still had to send (a reset): delayed events and queued ones.

        A POST already under way in the delivery thread still completes: it left before the reset.
        """
        with self._lock:
            self._cancel_timers()
            while True:
                try:
                    record = self._queue.get_nowait()
                except queue.Empty:
                    break
                if record is None:  # a stop() in progress keeps its sentinel
                    self._queue.put(None)
                    break

    def _cancel_timers(self) -> None:
        """Cancel every delayed event (caller holds the lock)."""
        self._generation += 1
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _release(self, record: SentEvent, generation: int) -> None:
        """A delay is over: hand the event to the delivery thread unless it was cancelled meanwhile."""
        with self._lock:
            self._timers.discard(threading.current_thread())
            if generation == self._generation:
                self._queue.put(record)

    def drop(self, record: SentEvent) -> None:
        """Record an event that is not sent (no handler will ever see it)."""
        record.dropped = True
        with self.state.lock:
            self.state.sent_events.append(record)

    def _run(self) -> None:
        """Deliver until stopped; a failure is logged and dropped (the docs: no resend)."""
        while (record := self._queue.get()) is not None:
            try:
                response = requests.post(
                    record.url, data=record.body, timeout=self.timeout, allow_redirects=False,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
                record.status = response.status_code
            except requests.RequestException as exc:
                record.error = type(exc).__name__
                log.info("b24.event.failed", extra={"url": record.url, "error": record.error})


def event_auth(state: State, portal: Portal, install: Install, user_id: int = 1) -> dict:
    """The `auth[...]` block of a CRM event, key order as in the captured ONCRMCONTACTADD."""
    token = state.issue_token(portal.member_id, install.client_id, user_id)
    return {
        "access_token": token.access_token, "expires": int(token.expires),
        "expires_in": state.token_lifetime, "scope": token.scope, "domain": portal.domain,
        "server_endpoint": f"{state.oauth_url}/rest/", "status": state.apps[install.client_id].status,
        "client_endpoint": f"{portal.url}/rest/", "member_id": portal.member_id,
        "user_id": user_id, "application_token": install.application_token,
    }


def robot_auth(state: State, portal: Portal, install: Install) -> dict:
    """The `auth[...]` block of a change made by a robot, workflow or agent: no user, so no tokens."""
    # DOCS api-reference/events/index.md § Authorization Tokens: such a change has no user and "tokens
    # are not passed"; reference §3.2 lists access_token, expires, expires_in, scope and user_id as the
    # missing keys ("bare"). The same page says the user id is 0 and _includes/auth-params-in-events.md
    # marks `scope` as always present ("user_zero"). The rest keeps the captured key order.
    app = state.apps[install.client_id]
    user_zero = app.switches.robot_event_auth == "user_zero"
    auth: dict = {"scope": app.scope} if user_zero else {}
    auth |= {"domain": portal.domain, "server_endpoint": f"{state.oauth_url}/rest/", "status": app.status,
             "client_endpoint": f"{portal.url}/rest/", "member_id": portal.member_id}
    if user_zero:
        auth["user_id"] = 0
    auth["application_token"] = install.application_token
    return auth


def outgoing_auth(state: State, portal: Portal, hook: OutgoingWebhook) -> dict:
    """An outgoing webhook's `auth[...]`: five keys, never tokens, whoever made the change."""
    # DOCS events/index.md § How to Subscribe to an Event via Webhook; key order as in its sample
    # (fixtures doc-examples/api-reference__events__index__02.json).
    return {"domain": portal.domain, "client_endpoint": f"{portal.url}/rest/",
            "server_endpoint": f"{state.oauth_url}/rest/", "member_id": portal.member_id,
            "application_token": hook.application_token}


def crm_event_body(event: str, handler_id: int, data: dict, auth: dict) -> str:
    """Encode a CRM event exactly in the captured field order (no refresh_token, reference §3.2)."""
    return php_encode({"event": event, "event_handler_id": handler_id, "data": data,
                       "ts": int(time.time()), "auth": auth})


def fire(state: State, sender: EventSender, portal: Portal, event: str, data: dict,
         user_id: int = 1, origin: str = "user") -> None:
    """Send `event` to every bound online handler and outgoing webhook; `origin` is who changed it."""
    with state.lock:
        for install in list(portal.installs.values()):
            for binding in install.events:
                if binding.event == event and not binding.offline:
                    send(state, sender, portal, install, binding, data, user_id, origin)
        for hook in portal.outgoing_webhooks.values():
            if event in hook.events:
                body = crm_event_body(event, hook.id, data, outgoing_auth(state, portal, hook))
                sender.enqueue(SentEvent(portal.member_id, "", event, hook.handler, body, time.time(),
                                         outgoing_id=hook.id))


def send(state: State, sender: EventSender, portal: Portal, install: Install,
         binding: EventBinding, data: dict, user_id: int = 1, origin: str = "user") -> None:
    """Queue one CRM event POST to one app handler; before installFinish it is dropped, not sent."""
    if not install.installed:
        # DOCS settings/app-installation/installation-finish.md (reference §1.2): until
        # installFinish "events will not be sent", even after a successful event.bind; they are
        # lost, not delivered later. Recorded as dropped for the control API.
        sender.drop(SentEvent(portal.member_id, install.client_id, binding.event, binding.handler, "",
                              time.time()))
        return
    if origin == "user":
        auth = event_auth(state, portal, install, user_id)
    else:
        auth = robot_auth(state, portal, install)
    body = crm_event_body(binding.event, binding.id, data, auth)
    sender.enqueue(SentEvent(portal.member_id, install.client_id, binding.event, binding.handler,
                             body, time.time()))


def app_install_body(state: State, portal: Portal, install: Install, handler_id: int | None) -> str:
    """ONAPPINSTALL: tokens including refresh_token and application_token (DOCS on-app-install.md)."""
    token = state.issue_token(portal.member_id, install.client_id)
    app = state.apps[install.client_id]
    body: dict = {"event": "ONAPPINSTALL"}
    # The docs sample has no event_handler_id (UNCERTAIN); sent only for event.bind handlers.
    if handler_id is not None:
        body["event_handler_id"] = handler_id
    body["data"] = {"VERSION": str(app.version), "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "en"}
    body["ts"] = int(time.time())
    body["auth"] = {
        "domain": portal.domain, "scope": token.scope, "access_token": token.access_token,
        "refresh_token": token.refresh_token, "expires": int(token.expires),
        "expires_in": state.token_lifetime, "server_endpoint": f"{state.oauth_url}/rest/",
        "status": app.status, "client_endpoint": f"{portal.url}/rest/",
        "member_id": portal.member_id, "user_id": token.user_id,
        "application_token": install.application_token}
    return php_encode(body)


def app_uninstall_body(state: State, portal: Portal, install: Install, clean: bool,
                       handler_id: int | None) -> str:
    """ONAPPUNINSTALL: `data[CLEAN]`, no tokens (DOCS on-app-uninstall.md)."""
    body: dict = {"event": "ONAPPUNINSTALL"}
    if handler_id is not None:
        body["event_handler_id"] = handler_id
    body["data"] = {"LANGUAGE_ID": "en", "CLEAN": 1 if clean else 0}
    body["ts"] = int(time.time())
    body["auth"] = {"domain": portal.domain, "server_endpoint": f"{state.oauth_url}/rest/",
                    "status": state.apps[install.client_id].status, "client_endpoint": f"{portal.url}/rest/",
                    "member_id": portal.member_id, "application_token": install.application_token}
    return php_encode(body)
