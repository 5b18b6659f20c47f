"""User field methods: crm.contact/company.userfield.add/list and userfieldconfig.add/get/list/update/delete.

A field made by any of them lands in the one per-entity store (userfields.py), so crm.item,
crm.<kind>.fields and the required-field check (crm_store.check_required_userfields) see it.
"""
from __future__ import annotations

import re
from typing import Any

from sandbox.bitrix24 import userfields
from sandbox.bitrix24.classic import UF_ENTITY
from sandbox.bitrix24.crm_store import classic_fields, dict_param, matches, ordered, page, start_of
from sandbox.bitrix24.errors import RestError, classic
from sandbox.bitrix24.item_keys import camel_to_upper
from sandbox.bitrix24.registry import CallContext, method, ok
from sandbox.bitrix24.values import php_int

# DOCS userfieldconfig-add.md: the only keys `field` may carry (others, and showInList/labels, are ignored).
_ADD_KEYS = ("entityId", "fieldName", "userTypeId", "xmlId", "sort", "multiple", "mandatory", "showFilter",
             "editInList", "isSearchable", "settings", "editFormLabel", "helpMessage", "enum")
# DOCS userfieldconfig-update.md § Parameter field (the rest cannot change after creation).
_UPDATE_KEYS = ("xmlId", "sort", "mandatory", "showFilter", "isSearchable", "editFormLabel", "helpMessage",
                "settings")


def _userfield_add(ctx: CallContext, kind: str, params: dict) -> dict:
    """`crm.<kind>.userfield.add`: FIELD_NAME gets the UF_CRM_ prefix; returns the new id (reference §5)."""
    fields = classic_fields(params)
    errors = []
    if not fields.get("USER_TYPE_ID"):
        errors.append("USER_TYPE_ID is not defined.")
    name = str(fields.get("FIELD_NAME") or "").upper()
    if not name:
        errors.append("FIELD_NAME is not defined.")
    name = "UF_CRM_" + re.sub(r"^(UF_CRM_|UF_)", "", name)
    if name and (len(name) > 50 or not re.fullmatch(r"[A-Z0-9_]+", name)):
        errors.append("Invalid FIELD_NAME.")
    entity = UF_ENTITY[kind]
    if any(uf["FIELD_NAME"] == name for uf in ctx.portal.userfields.get(entity, [])):
        errors.append(f"Field {name} already exists.")
    if errors:
        raise classic("\n".join(errors))
    # rest UserFieldProxy::add: MULTIPLE/MANDATORY compare case-insensitively with "Y"; SHOW_FILTER "Y" is "E".
    yes = {k: "Y" if isinstance(fields.get(k), str) and fields[k].upper() == "Y" else "N"
           for k in ("MULTIPLE", "MANDATORY")}
    yes["SHOW_FILTER"] = "E" if str(fields.get("SHOW_FILTER", "")).upper() == "Y" else "N"
    return ok(int(userfields.add(ctx.portal, entity, {**fields, **yes, "FIELD_NAME": name})["ID"]))


def _userfield_list(ctx: CallContext, kind: str, params: dict) -> dict:
    """`crm.<kind>.userfield.list`: exact-match filter, `filter[LANG]` adds the labels as strings."""
    filter_ = {str(k).upper(): v for k, v in dict_param(params, "filter", True).items()}
    order = {str(k).upper(): v for k, v in dict_param(params, "order", True).items()} or {"SORT": "ASC", "ID": "ASC"}
    language = filter_.pop("LANG", None)
    rows = [uf for uf in ctx.portal.userfields.get(UF_ENTITY[kind], [])
            if all(str(uf.get(k)) == str(v) for k, v in filter_.items())]
    rows = ordered(rows, order, lambda r, f: r.get(f), "ID")
    return ok([userfields.classic_view(uf, language) for uf in rows], total=len(rows))


for _kind in ("contact", "company"):
    method(f"crm.{_kind}.userfield.add")(lambda ctx, params, k=_kind: _userfield_add(ctx, k, params))
    method(f"crm.{_kind}.userfield.list")(lambda ctx, params, k=_kind: _userfield_list(ctx, k, params))


def _module(ctx: CallContext, params: dict) -> None:
    """`moduleId` must be crm, and the app needs the crm scope besides userfieldconfig (DOCS index.md)."""
    module = params.get("moduleId")
    if not module:
        raise RestError(400, "INVALID_ARG_VALUE", "Could not find value for parameter {moduleId}")
    if str(module) != "crm":
        raise classic("No settings for UserFieldAccess")
    if "crm" not in ctx.scope:
        raise classic("The current method required more scopes. (crm)")


def _settings(raw: Any, allowed: tuple[str, ...]) -> dict:
    """A `field` object as UPPER_CASE record settings, only the documented keys."""
    raw = raw if isinstance(raw, dict) else {}
    out = {camel_to_upper(k): v for k, v in raw.items() if k in allowed}
    if out.get("SHOW_FILTER") == "Y":  # CORE Main\Controller\UserFieldConfig::prepareFields: "Y" means "E"
        out["SHOW_FILTER"] = "E"
    return out


def _changed(uf: dict, key: str, value: Any) -> Any:
    """One updated setting as CUserTypeEntity::Update stores it (settings only as an object)."""
    if key in userfields.LABELS:
        return userfields.lang_map(value)
    if key == "SETTINGS":
        return value if isinstance(value, dict) else uf["SETTINGS"]
    if key == "SORT":
        return str(php_int(value))
    return userfields.flag(key, value) if key in userfields.FLAGS else str(value)


def _field(ctx: CallContext, params: dict, refusal: str) -> dict:
    """The CRM user field named by `id` (a missing one gets the method's own refusal)."""
    uf = userfields.find(ctx.portal, params.get("id"))
    if uf is None or uf["ENTITY_ID"] not in userfields.CRM_ENTITIES:
        raise classic(refusal)
    return uf


def _require_settings_right(ctx: CallContext, refusal: str) -> None:
    """Changing fields needs the CRM "Allow to modify settings" right: administrators here."""
    if not ctx.portal.is_admin(ctx.user_id):
        raise classic(refusal)


@method("userfieldconfig.add", scope="userfieldconfig")
def userfieldconfig_add(ctx: CallContext, params: dict) -> dict:
    """Create a field `UF_{entityId}_…` -> `{"field": {…}}` (DOCS userfieldconfig-add.md)."""
    _module(ctx, params)
    _require_settings_right(ctx, "Access denied")
    fields = _settings(params.get("field"), _ADD_KEYS)
    entity, name = str(fields.get("ENTITY_ID") or ""), str(fields.get("FIELD_NAME") or "")
    if not fields.get("USER_TYPE_ID"):
        raise classic("The 'USER_TYPE_ID' field is not found.")
    if not name:
        raise classic("The 'FIELD_NAME' field is not found.")
    if entity not in userfields.CRM_ENTITIES or not name.startswith(f"UF_{entity}_"):
        raise classic("You cannot create custom fields")
    if len(name) > 50 or not re.fullmatch(r"[A-Z0-9_]+", name):
        raise classic("Fail to create new user field")
    if any(uf["FIELD_NAME"] == name for uf in ctx.portal.userfields.get(entity, [])):
        raise classic(f"Field {name} already exists")
    return ok({"field": userfields.config_view(userfields.add(ctx.portal, entity, fields))})


@method("userfieldconfig.get", scope="userfieldconfig")
def userfieldconfig_get(ctx: CallContext, params: dict) -> dict:
    """`{"field": {…}}`; an unknown id reads as a permission refusal (DOCS userfieldconfig-get.md)."""
    _module(ctx, params)
    return ok({"field": userfields.config_view(_field(ctx, params, "You do not have permission to view user field "
                                                                   "settings"))})


@method("userfieldconfig.update", scope="userfieldconfig")
def userfieldconfig_update(ctx: CallContext, params: dict) -> dict:
    """Change the changeable settings (mandatory, labels, …) -> `{"field": {…}}`."""
    _module(ctx, params)
    refusal = "You cannot change the settings of the user field"
    _require_settings_right(ctx, refusal)
    uf = _field(ctx, params, refusal)
    for key, value in _settings(params.get("field"), _UPDATE_KEYS).items():
        uf[key] = _changed(uf, key, value)
    return ok({"field": userfields.config_view(uf)})


@method("userfieldconfig.delete", scope="userfieldconfig")
def userfieldconfig_delete(ctx: CallContext, params: dict) -> dict:
    """Remove a field -> `null`."""
    _module(ctx, params)
    refusal = "You cannot delete the user field"
    _require_settings_right(ctx, refusal)
    userfields.remove(ctx.portal, _field(ctx, params, refusal))
    return ok(None)


@method("userfieldconfig.list", scope="userfieldconfig")
def userfieldconfig_list(ctx: CallContext, params: dict) -> dict:
    """`{"fields": […]}` with `total`/`next`; filter and order use the camelCase names."""
    _module(ctx, params)
    select = params.get("select") if isinstance(params.get("select"), dict) else {}
    language = select.get("language") if isinstance(select.get("language"), str) else None
    rows = [userfields.list_view(uf, language or None) for entity in userfields.CRM_ENTITIES
            for uf in ctx.portal.userfields.get(entity, [])]
    rows = [r for r in rows if matches(r, dict_param(params, "filter", False), lambda row, f: row.get(f))]
    # DOCS userfieldconfig-list.md § order: by default {"sort": "ASC", "id": "ASC"}.
    order = dict_param(params, "order", False) or {"sort": "ASC", "id": "ASC"}
    rows = ordered(rows, order, lambda r, f: r.get(f), "id")
    chunk, total, following = page(rows, start_of(params))
    return ok({"fields": chunk}, total=total, next=following)
