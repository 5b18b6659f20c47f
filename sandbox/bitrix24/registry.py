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
    """A REST method: its function, the scopes that open it (any one) and whether it needs app context."""

    func: Method
    scope: str | tuple[str, ...] | None
    app_only: bool

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes any one of which opens the method; empty for `basic` methods everyone may call."""
        if self.scope is None:
            return ()
        return (self.scope,) if isinstance(self.scope, str) else self.scope

    def allows(self, granted: set[str]) -> bool:
        """Whether a caller with these scopes may call the method."""
        return not self.scopes or bool(granted.intersection(self.scopes))


METHODS: dict[str, MethodSpec] = {}


def method(name: str, scope: str | tuple[str, ...] | None = "crm",
           app_only: bool = False) -> Callable[[Method], Method]:
    """Register a REST method under its lower-case name."""
    def register(func: Method) -> Method:
        METHODS[name.lower()] = MethodSpec(func, scope, app_only)
        return func
    return register


def ok(result: Any, **extra: Any) -> dict:
    """A success envelope (`result` plus `total`/`next` when given)."""
    return {"result": result, **{k: v for k, v in extra.items() if v is not None}}
