"""A portal's user fields: one record shape behind crm.*.userfield.*, userfieldconfig.* and crm.item.

Records keep the b_user_field column names (UPPER_CASE, as crm.contact.userfield.list answers,
DOCS crm-contact-userfield-list.md); labels are lang maps. userfieldconfig.* shows the same record
in camelCase (DOCS userfieldconfig-get.md).
"""
from __future__ import annotations

from typing import Any

from sandbox.bitrix24.item_keys import camel_to_upper, upper_to_camel
from sandbox.bitrix24.state import Portal, token_hex
from sandbox.bitrix24.values import php_int

LANGUAGE = "en"
LABELS = ("EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL", "ERROR_MESSAGE", "HELP_MESSAGE")
FLAGS = {"MULTIPLE": "N", "MANDATORY": "N", "SHOW_FILTER": "N", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "Y",
         "IS_SEARCHABLE": "N"}
# Settings a new field gets per type (DOCS api-reference/crm/_include/user-fields-for-examples-cut.md).
DEFAULT_SETTINGS: dict[str, dict] = {
    "string": {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": ""},
    "enumeration": {"DISPLAY": "LIST", "LIST_HEIGHT": 1, "CAPTION_NO_VALUE": "", "SHOW_NO_VALUE": "Y"},
    "double": {"PRECISION": 2, "SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": None},
    "date": {"DEFAULT_VALUE": {"TYPE": "NONE", "VALUE": ""}}, "money": {"DEFAULT_VALUE": ""},
    "boolean": {"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX", "LABEL": ["", ""]}}
# The fixed CRM identifiers the sandbox keeps records for (DOCS userfieldconfig/index.md § entityId).
CRM_ENTITIES = ("CRM_CONTACT", "CRM_COMPANY", "CRM_LEAD", "CRM_DEAL", "CRM_SMART_INVOICE")


def flag(key: str, value: Any) -> str:
    """A stored Y/N (or SHOW_FILTER letter) as CORE main CUserTypeEntity::Add/Update writes it.

    Only the string "Y" turns MULTIPLE, MANDATORY or IS_SEARCHABLE on (a JSON true is "N"), only "N" turns
    SHOW_IN_LIST or EDIT_IN_LIST off, and SHOW_FILTER keeps a first letter among N, I, E, S.
    """
    if key == "SHOW_FILTER":
        letter = value[:1] if isinstance(value, str) else ""
        return letter if letter and letter in "NIES" else "N"
    if key in ("SHOW_IN_LIST", "EDIT_IN_LIST"):
        return "N" if value == "N" else "Y"
    return "Y" if value == "Y" else "N"


def sort_of(value: Any) -> str:
    """SORT as CUserTypeEntity::Add keeps it: intval, 100 when that is not positive."""
    sort = php_int(value)
    return str(sort if sort > 0 else 100)


def lang_map(value: Any) -> dict:
    """A label as a lang map: a string applies to the portal language."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    return {} if value in (None, "") else {LANGUAGE: str(value)}


def label(uf: dict, name: str, language: str = LANGUAGE) -> str | None:
    """One label in one language."""
    return (uf.get(name) or {}).get(language)


def field_name(name: str) -> str:
    """A field name as stored: UPPER_CASE (camelCase input, e.g. `ufCrmQboId`, is converted)."""
    return name if name == name.upper() else camel_to_upper(name)


def _enum(portal: Portal, uf_id: str, raw: Any) -> list[dict]:
    """Enumeration options in b_user_field_enum shape."""
    items = list(raw.values()) if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    out = []
    for i, item in enumerate(i for i in items if isinstance(i, dict)):
        item = {camel_to_upper(str(k)): v for k, v in item.items()}
        out.append({"ID": str(portal.next_id("uf_enum", 1)), "USER_FIELD_ID": uf_id,
                    "VALUE": str(item.get("VALUE") or ""), "DEF": str(item.get("DEF") or "N"),
                    "SORT": str(item.get("SORT") or (i + 1) * 100),
                    "XML_ID": item.get("XML_ID") or token_hex(16)})  # Bitrix24 makes a 32-hex one
    return out


def add(portal: Portal, entity: str, fields: dict) -> dict:
    """Store a new user field from UPPER_CASE settings (FIELD_NAME, USER_TYPE_ID, MANDATORY, …)."""
    uf_id = str(portal.next_id("uf", 100))
    given = fields.get("SETTINGS") if isinstance(fields.get("SETTINGS"), dict) else {}
    user_type = str(fields.get("USER_TYPE_ID") or "string")
    record = {"ID": uf_id, "ENTITY_ID": entity, "FIELD_NAME": field_name(str(fields["FIELD_NAME"])),
              "USER_TYPE_ID": user_type, "XML_ID": fields.get("XML_ID"),
              "SORT": sort_of(fields.get("SORT")),
              **{k: flag(k, fields.get(k, default)) for k, default in FLAGS.items()},
              "SETTINGS": {**DEFAULT_SETTINGS.get(user_type, {}), **given} or [],
              **{k: lang_map(fields.get(k)) for k in LABELS}}
    for key in LABELS[:3]:  # crm.<kind>.userfield.add: LABEL stands in for the labels not given (reference §5)
        record[key] = record[key] or lang_map(fields.get("LABEL"))
    if record["USER_TYPE_ID"] == "enumeration":
        record["ENUM"] = _enum(portal, uf_id, fields.get("LIST", fields.get("ENUM")))
    portal.userfields.setdefault(entity, []).append(record)
    return record


def find(portal: Portal, uf_id: Any) -> dict | None:
    """A user field of any entity by its id."""
    return next((uf for ufs in portal.userfields.values() for uf in ufs if uf["ID"] == str(uf_id)), None)


def remove(portal: Portal, uf: dict) -> None:
    """Drop a user field (its values stay in the records, unseen, as b_uts columns would go)."""
    portal.userfields[uf["ENTITY_ID"]].remove(uf)


def classic_view(uf: dict, language: str | None) -> dict:
    """crm.<kind>.userfield.list: labels as strings only when `filter[LANG]` names a language."""
    out = {k: v for k, v in uf.items() if k not in LABELS and k != "ENUM"}
    if uf.get("ENUM") is not None:
        out["LIST"] = uf["ENUM"]
    if language:
        out.update({k: label(uf, k, language) for k in LABELS})
    return out


def _camel(key: str) -> str:
    """`EDIT_FORM_LABEL` -> `editFormLabel`."""
    return upper_to_camel(key)


def config_view(uf: dict, language: str | None = None) -> dict:
    """userfieldconfig.*: camelCase keys, numbers as strings, labels as lang maps (null per language)."""
    languages = sorted({lang for k in LABELS for lang in uf.get(k) or {}} | {LANGUAGE})
    if language:
        languages = [language]
    out: dict = {"id": uf["ID"], "entityId": uf["ENTITY_ID"]}
    out.update({_camel(k): uf[k] for k in ("FIELD_NAME", "USER_TYPE_ID", "XML_ID", "SORT", *FLAGS, "SETTINGS")})
    out["languageId"] = {lang: lang for lang in languages}
    out.update({_camel(k): {lang: label(uf, k, lang) for lang in languages} for k in LABELS})
    if uf["USER_TYPE_ID"] == "enumeration":
        out["enum"] = [{_camel(k): v for k, v in e.items()} for e in uf.get("ENUM", [])]
    return out


def list_view(uf: dict, language: str | None) -> dict:
    """userfieldconfig.list: no `enum`, and a label without text in the languages shown is null (not a map).

    DOCS userfieldconfig-list.md (fixture userfieldconfig-list__01): the enumeration row has no `enum`,
    `listColumnLabel` & co. are null where get/add/update show `{"de": null}`.
    """
    out = {k: v for k, v in config_view(uf, language).items() if k != "enum"}
    for key in LABELS:
        texts = {lang: text for lang, text in out[_camel(key)].items() if text not in (None, "")}
        out[_camel(key)] = texts or None
    return out
