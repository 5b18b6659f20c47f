"""App-context REST methods: app.info, app.option.*, profile, event.*, placement.*."""
from __future__ import annotations

from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.registry import CallContext, method, ok
from sandbox.bitrix24.staff import user_is_inactive
from sandbox.bitrix24.state import EventBinding, Install, PlacementBinding

_CRM = ("CONTACT", "COMPANY", "LEAD", "DEAL", "INVOICE")
KNOWN_EVENTS = {f"ONCRM{e}{v}" for e in _CRM for v in ("ADD", "UPDATE", "DELETE")} | {
    "ONCRMINVOICESETSTATUS", "ONCRMDYNAMICITEMADD", "ONCRMDYNAMICITEMUPDATE", "ONCRMDYNAMICITEMDELETE",
    "ONCRMDYNAMICITEMADD_31", "ONCRMDYNAMICITEMUPDATE_31", "ONCRMDYNAMICITEMDELETE_31",
    "ONAPPINSTALL", "ONAPPUNINSTALL", "ONAPPUPDATE", "ONAPPPAYMENT", "ONAPPTEST", "ONOFFLINEEVENT"}
_LICENSE = {"enterprise": "ent250", "professional": "pro100", "basic": "basic"}


def _require_admin(ctx: CallContext) -> None:
    """403 for a user without the right to change settings (the reference's "administrator only")."""
    if not ctx.portal.is_admin(ctx.user_id):
        raise RestError(403, "ACCESS_DENIED", "Access denied! Administrator rights required")


def _install(ctx: CallContext) -> Install:
    """The caller's install (app context is guaranteed by `app_only`)."""
    install = ctx.install
    if install is None:
        raise RestError(401, "invalid_token", "The access token provided is invalid")
    return install


@method("app.info", scope=None, app_only=True)
def app_info(ctx: CallContext, params: dict) -> dict:
    """`result.INSTALLED` tells whether installFinish happened (DOCS app-info.md)."""
    install, app = _install(ctx), ctx.state.apps[ctx.token.client_id]
    license_ = f"en_{_LICENSE.get(ctx.portal.plan, 'basic')}"
    return ok({"ID": ctx.portal.installs_index(app.client_id), "CODE": app.code, "VERSION": app.version,
               "STATUS": app.status,
               "INSTALLED": install.installed, "PAYMENT_EXPIRED": "N", "DAYS": None,
               "LANGUAGE_ID": "en", "LICENSE": license_, "LICENSE_TYPE": license_.split("_", 1)[1],
               "LICENSE_FAMILY": license_.split("_", 1)[1]})


@method("app.option.set", scope=None, app_only=True)
def app_option_set(ctx: CallContext, params: dict) -> dict:
    """Store app options (administrator only)."""
    options = params.get("options")
    if not isinstance(options, dict) or not options:
        raise RestError(400, "ERROR_ARGUMENT", "Argument 'options' is null or empty")
    _require_admin(ctx)
    _install(ctx).options.update(options)
    return ok(True)


@method("app.option.get", scope=None, app_only=True)
def app_option_get(ctx: CallContext, params: dict) -> dict:
    """One option (null when unset) or all of them (`[]` when none, a PHP empty array)."""
    options = _install(ctx).options
    if params.get("option"):
        return ok(options.get(str(params["option"])))
    return ok(dict(options) or [])


@method("profile", scope=None)
def profile(ctx: CallContext, params: dict) -> dict:
    """The calling user; `ADMIN` is the same right user.admin reports."""
    if user_is_inactive(ctx.portal, ctx.user_id):
        # DOCS profile.md: "If the user is inactive, the object is empty"; PHP encodes an empty array as [].
        return ok([])
    user = ctx.portal.users.get(ctx.user_id)
    name, last_name = (user.name, user.last_name) if user else ("Sandbox", f"User {ctx.user_id}")
    return ok({"ID": str(ctx.user_id), "ADMIN": ctx.portal.is_admin(ctx.user_id), "NAME": name,
               "LAST_NAME": last_name, "PERSONAL_GENDER": "", "TIME_ZONE": "", "TIME_ZONE_OFFSET": 0})


@method("user.admin", scope=None)
def user_admin(ctx: CallContext, params: dict) -> dict:
    """Whether the caller is an administrator (DOCS user-admin.md: scope basic, any user, no errors of its own)."""
    return ok(ctx.portal.is_admin(ctx.user_id))


@method("events", scope=None)
def events(ctx: CallContext, params: dict) -> dict:
    """Event names available to the app."""
    return ok(sorted(KNOWN_EVENTS))


@method("event.bind", scope=None, app_only=True)
def event_bind(ctx: CallContext, params: dict) -> dict:
    """Bind a handler; a second identical bind is ERROR_CORE "Handler already binded"."""
    name = str(params.get("event") or "").upper()
    if name not in KNOWN_EVENTS:
        raise RestError(400, "ERROR_EVENT_NOT_FOUND", "Event not found")
    offline = str(params.get("event_type") or "online").lower() == "offline"
    if offline:
        _require_admin(ctx)  # reference §3.1: a non-admin's offline bind is 403 ACCESS_DENIED
    handler = str(params.get("handler") or "")
    if not handler and not offline:
        raise RestError(400, "ERROR_ARGUMENT", "Argument 'handler' is null or empty")
    install = _install(ctx)
    auth_type = int(params.get("auth_type") or 0)
    if any(b.event == name and b.handler == handler and b.auth_type == auth_type for b in install.events):
        # The HTTP status of this error is not verified (reference §3.1); 400 is the likely one.
        raise RestError(400, "ERROR_CORE", "Handler already binded")
    handler_id = ctx.state.next_handler_id
    ctx.state.next_handler_id += 1
    install.events.append(EventBinding(handler_id, name, handler, auth_type, int(offline)))
    return ok(True)


@method("event.get", scope=None, app_only=True)
def event_get(ctx: CallContext, params: dict) -> dict:
    """The app's handlers; auth_type comes back as a string."""
    return ok([{"event": b.event, "handler": b.handler, "auth_type": str(b.auth_type), "offline": b.offline}
               for b in _install(ctx).events])


@method("event.unbind", scope=None, app_only=True)
def event_unbind(ctx: CallContext, params: dict) -> dict:
    """Remove matching handlers -> `{"count": n}`."""
    name = str(params.get("event") or "").upper()
    handler = str(params.get("handler") or "")
    if not name:
        raise RestError(400, "ERROR_ARGUMENT", "Argument 'event' is null or empty")
    auth_type = int(params.get("auth_type") or 0)
    install = _install(ctx)
    keep = [b for b in install.events
            if not (b.event == name and (not handler or b.handler == handler) and b.auth_type == auth_type)]
    count = len(install.events) - len(keep)
    install.events = keep
    return ok({"count": count})


def _p(params: dict, key: str) -> str:
    """Placement params are upper-case in the docs; lower-case is accepted too."""
    return str(params.get(key) or params.get(key.lower()) or "")


@method("placement.bind", scope="placement", app_only=True)
def placement_bind(ctx: CallContext, params: dict) -> dict:
    """Bind a widget handler (shown once the install is finished)."""
    for key in ("PLACEMENT", "HANDLER"):
        if not _p(params, key):
            raise RestError(400, "ERROR_ARGUMENT", f"Argument '{key}' is null or empty")
    # Reference §4: administrators only; the refusal's code and status are not documented.
    _require_admin(ctx)
    install = _install(ctx)
    code, handler = _p(params, "PLACEMENT").upper(), _p(params, "HANDLER")
    if any(p.placement == code and p.handler == handler for p in install.placements):
        raise RestError(400, "ERROR_CORE", "Handler already binded")
    lang_all = params.get("LANG_ALL") if isinstance(params.get("LANG_ALL"), dict) else {}
    title = _p(params, "TITLE") or next((v.get("TITLE", "") for v in lang_all.values()
                                         if isinstance(v, dict)), "") or ctx.state.apps[install.client_id].code
    options = params.get("OPTIONS") if isinstance(params.get("OPTIONS"), dict) else {}
    install.placements.append(PlacementBinding(code, handler, title, _p(params, "DESCRIPTION"), options, lang_all))
    return ok(True)


@method("placement.get", scope="placement", app_only=True)
def placement_get(ctx: CallContext, params: dict) -> dict:
    """The app's widget handlers."""
    return ok([{"placement": p.placement, "userId": 0, "handler": p.handler, "options": p.options or [],
                "title": p.title, "description": p.description, "langAll": p.lang_all or []}
               for p in _install(ctx).placements])


@method("placement.unbind", scope="placement", app_only=True)
def placement_unbind(ctx: CallContext, params: dict) -> dict:
    """Remove handlers of a placement (all of the app's when HANDLER is empty)."""
    code = _p(params, "PLACEMENT").upper()
    if not code:
        raise RestError(400, "ERROR_ARGUMENT", "Argument 'PLACEMENT' is null or empty")
    handler = _p(params, "HANDLER")
    install = _install(ctx)
    keep = [p for p in install.placements if not (p.placement == code and (not handler or p.handler == handler))]
    count = len(install.placements) - len(keep)
    install.placements = keep
    return ok({"count": count})
