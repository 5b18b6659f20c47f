"""User field methods: crm.contact/company.userfield.add.

A field made by any of them lands in the one per-entity store (userfields.py), so crm.item,
crm.<kind>.fields and the required-field check (crm_store.check_required_userfields) see it.
"""
from __future__ import annotations

import re

from sandbox.bitrix24 import userfields
from sandbox.bitrix24.classic import UF_ENTITY
from sandbox.bitrix24.crm_store import classic_fields
from sandbox.bitrix24.errors import classic
from sandbox.bitrix24.registry import CallContext, method, ok


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
    return ok(int(userfields.add(ctx.portal, entity, {**fields, "FIELD_NAME": name})["ID"]))


for _kind in ("contact", "company"):
    method(f"crm.{_kind}.userfield.add")(lambda ctx, params, k=_kind: _userfield_add(ctx, k, params))
