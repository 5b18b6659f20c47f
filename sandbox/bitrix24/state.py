"""In-memory state shared by the OAuth server, the portals and the control API."""
from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.bitrix24.errors import RestError

# Reference §8 (DOCS limits.md): Enterprise drains 5/s with a bucket of 250; "all others" 2/s and 50.
PLANS = {"free": (2.0, 50), "basic": (2.0, 50), "standard": (2.0, 50), "professional": (2.0, 50),
         "enterprise": (5.0, 250)}
INSTALLER_SHAPES = ("captured", "documented")
DEFAULT_CLIENT_ID = "local.qb24sandbox.0000"
DEFAULT_CLIENT_SECRET = "qb24-b24-sandbox-secret"
DEFAULT_SCOPE = "crm,placement,user_brief"


def token_hex(nbytes: int = 32) -> str:
    """A Bitrix24-looking opaque token."""
    return secrets.token_hex(nbytes)


ROBOT_EVENT_AUTH = ("bare", "user_zero")
# What the OAuth server answers a refresh token its app's uninstall revoked (reference §2):
# error -> HTTP status, description.
UNINSTALLED_REFRESH_ERRORS = {"invalid_grant": (400, "Invalid refresh token"),
                              "invalid_client": (401, "Invalid client credentials"),
                              "PAYMENT_REQUIRED": (401, "Payment required")}


@dataclass
class AppSwitches:
    """Per-app readings of what real Bitrix24 does in more than one way (docs/architecture.md lists them)."""

    # "captured": the installer/app/widget POST as captured from a real portal (fixtures
    # install_or_placement_DEFAULT.*: no APPLICATION_TOKEN, SERVER_ENDPOINT, APPLICATION_SCOPE);
    # "documented": the longer shape of DOCS settings/oauth/simple-way.md. Both occur (reference §1.1).
    installer_shape: str = "captured"
    # Seconds between installFinish and the ONAPPINSTALL POST: "The event may arrive with a delay"
    # (DOCS simple-way.md, reference §1.2). Non-zero by default so events can outrun it.
    install_event_delay: float = 1.0
    # The application's status letter (L local, F free, D demo, T trial, P paid, S subscription;
    # DOCS _includes/auth-params-in-events.md, b24pysdk B24AppStatus); None = L for local.* ids, else F.
    status: str | None = None
    # The auth block of an event caused by a robot, workflow or agent: "bare" drops access_token,
    # expires, expires_in, scope and user_id (reference §3.2); "user_zero" keeps scope and sends
    # user_id 0 (DOCS events/index.md "the user ID will be 0", auth-params-in-events.md: scope*).
    robot_event_auth: str = "bare"
    # The refresh of a token the app's uninstall revoked: "invalid_grant" (RFC 6749 §5.2, "revoked";
    # the code DOCS settings/oauth/error-codes.md gives for bad tokens on renewal), "invalid_client"
    # (same page: "possibly the app is not installed in this Bitrix24"), "PAYMENT_REQUIRED" (reference
    # §2: "trial or paid period over, or app removed"; the page's own example body).
    uninstalled_refresh_error: str = "invalid_grant"
    # What a terminated employee's tokens do when the integrations were "disabled" (staff.py).
    # "still_valid": they still authenticate; `profile` answers an empty result for them (DOCS
    # common/users/profile.md: "If the user is inactive, the object is empty") and user.admin keeps
    # answering their old right (undocumented, so the reading harder for an app). "refused": REST
    # and app.info answer 401 NO_AUTH_FOUND and a refresh answers invalid_grant (DOCS
    # settings/system-user.md: "webhooks and applications stop working"; the code is not documented).
    fired_user_tokens: str = "still_valid"

    def as_dict(self) -> dict[str, Any]:
        """JSON view."""
        return dict(self.__dict__)


APP_STATUSES = ("L", "F", "D", "T", "P", "S")
FIRED_USER_TOKENS = ("still_valid", "refused")


def _one_of(choices: Any) -> Any:
    """A rule accepting only a hashable value among `choices` (a list or dict is refused, not a 500)."""
    return lambda value: isinstance(value, (str, type(None))) and value in choices


# One rule per switch, so a value is only ever tested against its own switch's rule.
_SWITCH_RULES = {
    "installer_shape": _one_of(INSTALLER_SHAPES),
    "install_event_delay": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)
    and 0 <= value <= 60,
    "status": lambda value: value is None or _one_of(APP_STATUSES)(value),
    "robot_event_auth": _one_of(ROBOT_EVENT_AUTH),
    "uninstalled_refresh_error": _one_of(UNINSTALLED_REFRESH_ERRORS),
    "fired_user_tokens": _one_of(FIRED_USER_TOKENS),
}


def check_switches(current: AppSwitches, changes: dict[str, Any]) -> AppSwitches:
    """`current` with `changes` applied, or RestError 400 naming the first bad one."""
    known = current.as_dict()
    for name, value in changes.items():
        if name not in known:
            raise RestError(400, "ERROR_ARGUMENT", f"Unknown app switch {name!r}")
        if not _SWITCH_RULES[name](value):
            raise RestError(400, "ERROR_ARGUMENT", f"Invalid value for app switch {name!r}")
    return replace(current, **changes)


@dataclass
class App:
    """A registered (Market or local) application."""

    client_id: str
    client_secret: str
    scope: str = DEFAULT_SCOPE
    code: str = "qb24"
    version: int = 1
    handler_url: str | None = None
    install_event_url: str | None = None
    redirect_uri: str | None = None
    switches: AppSwitches = field(default_factory=AppSwitches)

    @property
    def status(self) -> str:
        """The letter sent as `status` in frame POSTs, events, token answers and app.info."""
        return self.switches.status or ("L" if self.client_id.startswith("local.") else "F")


@dataclass
class Token:
    """One OAuth access/refresh pair issued for an app on a portal."""

    access_token: str
    refresh_token: str
    member_id: str
    client_id: str
    user_id: int
    scope: str
    expires: float
    refresh_valid: bool = True


@dataclass
class EventBinding:
    """An `event.bind` row."""

    id: int
    event: str
    handler: str
    auth_type: int
    offline: int = 0


@dataclass
class OutgoingWebhook:
    """A portal's outgoing webhook: event handlers set up in the UI, not by an app's event.bind."""

    # DOCS events/index.md § How to Subscribe to an Event via Webhook: its application token is generated.

    id: int
    events: list[str]
    handler: str
    application_token: str


@dataclass
class PlacementBinding:
    """A `placement.bind` row."""

    placement: str
    handler: str
    title: str
    description: str = ""
    options: dict = field(default_factory=dict)
    lang_all: dict = field(default_factory=dict)


@dataclass
class Install:
    """An app installed on a portal; `installed` flips on BX24.installFinish()."""

    client_id: str
    handler_url: str
    application_token: str
    installed: bool = False
    options: dict = field(default_factory=dict)
    events: list[EventBinding] = field(default_factory=list)
    placements: list[PlacementBinding] = field(default_factory=list)


@dataclass
class User:
    """A portal user; `admin` is the right to change the portal's (and apps') settings, `active` is
    false once terminated, `system` marks a system-user clone (DOCS settings/system-user.md)."""

    id: int
    admin: bool
    name: str = "Sandbox"
    last_name: str = ""
    active: bool = True
    system: bool = False
    # CRM read level per kind ("all", "own", "none"; permissions.py); a kind not named is "all".
    crm_read: dict[str, str] = field(default_factory=dict)
    # The user's interface language, a Bitrix24 language id ("en", "de", "ru", "ua", "br", "la", "sc", "tc", …;
    # b24restdocs api-reference/sale/status-lang/index.md): the LANG of every app frame opened for the user
    # (reference bitrix24.md §3, "UI language of the user").
    language: str = "en"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view for the control API."""
        return {"id": self.id, "admin": self.admin, "name": self.name, "last_name": self.last_name,
                "active": self.active, "system": self.system, "crm_read": dict(self.crm_read),
                "language": self.language}


def first_users() -> dict[int, User]:
    """Every portal starts with its creator, user 1, an administrator."""
    return {1: User(1, True, "Sandbox", "User 1")}


@dataclass
class Limits:
    """Per-portal knobs: leaky bucket, operating time, faults."""

    drain_rate: float = 2.0
    bucket_size: int = 50
    speedup: float = 1.0
    operating_limit: float = 480.0
    operating_window: float = 600.0
    operating_cost: float | None = None
    error_rate: float = 0.0
    # What an injected error answers, drawn evenly (repeat one to weight it), reference §8 error table:
    # 500 INTERNAL_SERVER_ERROR, 503 QUERY_LIMIT_EXCEEDED "Too many requests" (the leaky bucket's answer).
    error_statuses: list[int] = field(default_factory=lambda: [500, 503])
    latency: float = 0.0


@dataclass
class SpentTime:
    """One caller's charges for one method inside the operating-time window, oldest first, and their sum.

    Kept as a running sum so a check costs O(expired entries), not O(window): a bulk run charges
    thousands of commands per window and used to rescan them all for every command.
    """

    entries: deque[tuple[float, float]] = field(default_factory=deque)  # (time.time(), cost)
    total: float = 0.0


@dataclass
class Portal:
    """A Bitrix24 cloud portal: its CRM data, installs and limits."""

    member_id: str
    plan: str
    domain: str = ""
    url: str = ""
    limits: Limits = field(default_factory=Limits)
    installs: dict[str, Install] = field(default_factory=dict)
    kept_options: dict[str, dict] = field(default_factory=dict)
    webhooks: dict[tuple[int, str], str] = field(default_factory=dict)
    entities: dict[str, dict[int, dict]] = field(default_factory=dict)
    userfields: dict[str, list[dict]] = field(default_factory=dict)
    statuses: list[dict] = field(default_factory=list)
    categories: list[dict] = field(default_factory=list)
    currencies: list[dict] = field(default_factory=list)
    req_uf_check: bool = False
    bucket_level: float = 0.0
    bucket_at: float = field(default_factory=time.monotonic)
    operating: dict[tuple[str, str], SpentTime] = field(default_factory=dict)
    sessions: dict[str, dict] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=first_users)
    outgoing_webhooks: dict[int, OutgoingWebhook] = field(default_factory=dict)
    # comm_index.py: (type, normalized value) -> kind -> ids, and (kind, id) -> that record's keys.
    comm_index: dict[tuple[str, str], dict[str, set[int]]] = field(default_factory=dict)
    comm_keys: dict[tuple[str, int], set[tuple[str, str]]] = field(default_factory=dict)
    # What tests and benchmarks count (control API /requests): HTTP requests by method (a batch is one
    # "batch"), methods run by name (each batch command too), and requests refused by the leaky bucket.
    requests: dict[str, int] = field(default_factory=dict)
    commands: dict[str, int] = field(default_factory=dict)
    refused_503: int = 0
    # write_log.py: every CRM write with its millisecond time (GET /_sandbox/portals/<m>/writes).
    write_log: list[dict] = field(default_factory=list)
    write_seq: int = 0

    def next_id(self, kind: str, start: int = 1) -> int:
        """Allocate the next id in a sequence (per entity kind)."""
        value = self.next_ids.get(kind, start)
        self.next_ids[kind] = value + 1
        return value

    def add_user(self, admin: bool, name: str = "Sandbox", last_name: str | None = None,
                 system: bool = False) -> User:
        """Create a portal user (ids follow the creator's 1)."""
        user_id = self.next_id("user", 2)
        last = f"User {user_id}" if last_name is None else last_name
        user = self.users[user_id] = User(user_id, admin, name, last, system=system)
        return user

    def is_admin(self, user_id: int) -> bool:
        """Whether the user may change settings (an unknown user, e.g. a stray webhook id, may not)."""
        user = self.users.get(user_id)
        return user is not None and user.admin

    def installs_index(self, client_id: str) -> int:
        """A small numeric app id on this portal (used in app page paths)."""
        return list(self.installs).index(client_id) + 1 if client_id in self.installs else 0


@dataclass
class SentEvent:
    """A record of one outbound event POST."""

    member_id: str
    client_id: str
    event: str
    url: str
    body: str
    sent_at: float
    status: int | None = None
    error: str | None = None
    dropped: bool = False  # raised before installFinish: recorded, never sent
    outgoing_id: int | None = None  # sent to an outgoing webhook (client_id is then "")

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view for the control API."""
        return dict(self.__dict__)


@dataclass
class State:
    """Everything the sandbox knows; guarded by one re-entrant lock."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    apps: dict[str, App] = field(default_factory=dict)
    portals: dict[str, Portal] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    refresh_index: dict[str, Token] = field(default_factory=dict)
    codes: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    revoked_refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> client_id, by uninstall
    sent_events: list[SentEvent] = field(default_factory=list)
    token_lifetime: int = 3600
    oauth_url: str = ""
    next_handler_id: int = 1

    def issue_token(self, member_id: str, client_id: str, user_id: int = 1) -> Token:
        """Create a fresh access/refresh pair for an app on a portal."""
        app = self.apps[client_id]
        token = Token(token_hex(34), token_hex(34), member_id, client_id, user_id, app.scope,
                      time.time() + self.token_lifetime)
        self.tokens[token.access_token] = token
        self.refresh_index[token.refresh_token] = token
        return token

    def issue_code(self, member_id: str, client_id: str) -> str:
        """A one-time authorization code; DOCS: it lives 30 s."""
        code = token_hex(16)
        self.codes[code] = (member_id, client_id, time.time() + 30)
        return code

    def revoke(self, member_id: str, client_id: str) -> None:
        """Drop every token of an app on a portal (uninstall); its refresh tokens are remembered as revoked."""
        for index in (self.tokens, self.refresh_index):
            for key in [k for k, t in index.items() if t.member_id == member_id and t.client_id == client_id]:
                if index is self.refresh_index:
                    self.revoked_refresh[key] = client_id
                del index[key]
