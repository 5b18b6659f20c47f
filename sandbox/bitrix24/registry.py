"""The REST method table and the per-call context handed to method functions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from sandbox.bitrix24.state import Install, Portal, State, Token

if TYPE_CHECKING:
    from sandbox.bitrix24.events import EventSender


@dataclass
class CallContext:
    """Who calls which portal: an app token or an incoming webhook."""

    state: State
    sender: "EventSender"
    portal: Portal
    token: Token | None
    user_id: int
    caller: str
    scope: set[str]

    @property
    def install(self) -> Install | None:
        """The caller app's install, None for webhooks."""
        return self.portal.installs.get(self.token.client_id) if self.token else None


Method = Callable[[CallContext, dict], dict]


@dataclass(frozen=True)
class MethodSpec:
    """A REST method: its function, required scope and whether it needs app context."""

    func: Method
    scope: str | None
    app_only: bool


METHODS: dict[str, MethodSpec] = {}


def method(name: str, scope: str | None = "crm", app_only: bool = False) -> Callable[[Method], Method]:
    """Register a REST method under its lower-case name."""
    def register(func: Method) -> Method:
        METHODS[name.lower()] = MethodSpec(func, scope, app_only)
        return func
    return register


def ok(result: Any, **extra: Any) -> dict:
    """A success envelope (`result` plus `total`/`next` when given)."""
    return {"result": result, **{k: v for k, v in extra.items() if v is not None}}
