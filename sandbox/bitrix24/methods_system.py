"""System methods any user may call: server.time, scope, methods, user.current, user.get."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.bitrix24.crm_store import now_iso
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.registry import METHODS, CallContext, method, ok

# DOCS api-reference/scopes/permissions.md (the table's scope codes) plus the user_brief/user_basic
# scopes user.current documents (DOCS api-reference/user/user-current.md).
ALL_SCOPES = (
    "ai_admin", "biconnector", "bizproc", "booking", "calendar", "call", "cashbox", "catalog", "contact_center",
    "crm", "documentgenerator", "delivery", "department", "disk", "entity", "humanresources",
    "humanresources.hcmlink", "im", "imbot", "imconnector", "imopenlines", "intranet", "landing", "lists", "log",
    "mailservice", "main", "messageservice", "mobile", "pay_system", "placement", "pull", "rpa", "sale",
    "salescenter", "sign.b2e", "task", "telephony", "timeman", "user", "user.userfield", "user_basic",
    "user_brief", "userfieldconfig", "userconsent", "vote")


def _flag(value: Any) -> bool:
    """A boolean parameter as JSON, form or query strings send it."""
    return value is True or str(value).lower() in ("true", "1", "y")


@method("server.time", scope=None)
def server_time(ctx: CallContext, params: dict) -> dict:
    """The server time as `YYYY-MM-DDThh:mm:ss±hh:mm` (DOCS server-time.md)."""
    return ok(now_iso())


@method("scope", scope=None)
def scope(ctx: CallContext, params: dict) -> dict:
    """The caller's scopes, or every scope with `full=true` (DOCS scope.md)."""
    return ok(list(ALL_SCOPES) if _flag(params.get("full")) else sorted(ctx.scope))


def _available(ctx: CallContext, name: str) -> bool:
    """Whether the caller could call a method: its scope is granted, and app context exists if needed."""
    spec = METHODS[name]
    return spec.allows(ctx.scope) and not (spec.app_only and ctx.token is None)


@method("methods", scope=None)
def methods(ctx: CallContext, params: dict) -> dict:
    """Method names: the caller's (default), one scope's (`scope`, empty = common ones) or all (`full=true`)."""
    if _flag(params.get("full")):
        names = list(METHODS)
    elif "scope" in params:
        wanted = str(params.get("scope") or "")
        names = [n for n, spec in METHODS.items() if (wanted in spec.scopes if wanted else not spec.scopes)]
    else:
        names = [n for n in METHODS if _available(ctx, n)]
    return ok(sorted(names))


@method("user.current", scope=("user", "user_brief", "user_basic"))
def user_current(ctx: CallContext, params: dict) -> dict:
    """The user whose token or webhook made the call (DOCS user-current.md)."""
    user = ctx.portal.users.get(ctx.user_id)
    name, last_name = (user.name, user.last_name) if user else ("Sandbox", f"User {ctx.user_id}")
    now = now_iso()
    return ok({"ID": str(ctx.user_id), "ACTIVE": user.active if user else True, "NAME": name,
               "LAST_NAME": last_name,
               "EMAIL": f"user{ctx.user_id}@sandbox.invalid", "LAST_LOGIN": now, "DATE_REGISTER": now,
               "IS_ONLINE": "Y", "LAST_ACTIVITY_DATE": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
               "PERSONAL_GENDER": "", "PERSONAL_BIRTHDAY": "", "WORK_POSITION": "", "UF_EMPLOYMENT_DATE": "",
               "UF_DEPARTMENT": [1]})


@method("user.get", scope=("user", "user_brief", "user_basic"))
def user_get(ctx: CallContext, params: dict) -> dict:
    """Users by `ID` and `ACTIVE` (the only filters the sandbox knows). DOCS user-get.md: `ACTIVE`
    true "excludes dismissed users"; DOCS settings/system-user.md: user.get "do[es] not return a
    system user", whatever the filter."""
    wanted = params.get("filter") or params.get("FILTER") or {k: v for k, v in params.items() if k.isupper()}
    if not isinstance(wanted, dict) or set(wanted) - {"ID", "ACTIVE"}:
        raise RestError(400, "ERROR_ARGUMENT", "the sandbox's user.get filters by ID and ACTIVE only")
    users = [u for u in ctx.portal.users.values() if not u.system
             and ("ID" not in wanted or str(u.id) == str(wanted["ID"]))
             and (not _flag(wanted.get("ACTIVE")) or u.active)]
    rows = [{"ID": str(u.id), "ACTIVE": u.active, "NAME": u.name, "LAST_NAME": u.last_name,
             "USER_TYPE": "employee"} for u in users]
    return ok(rows, total=len(rows))
