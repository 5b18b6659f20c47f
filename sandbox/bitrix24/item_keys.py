"""crm.item field names: camelCase <-> UPPER_SNAKE as the crm.item controller converts them.

The controller upper-cases the keys of `fields`, `filter`, `order` and `select`
(`convertKeysToUpper`, CORE modules/crm/lib/controller/item.php) after teaching its converter the
type's real field names (`preprocessUpperFieldNames`), so `TITLE` and `title`, `order[ID]` and
`order[id]` mean the same; answers are camelCase (DOCS api-reference/crm/universal/index.md
§ Field Naming Conventions). User fields follow the "regular" or "simplified" rule of that page.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable

from sandbox.bitrix24.crm_store import OPERATOR_PREFIX
from sandbox.bitrix24.errors import RestError

# CORE Converter::isSpecialDecodeWayFromUpperToCamel: only these UF shapes convert "regularly".
_REGULAR_UPPER = (re.compile(r"^[A-Z_]+$"), re.compile(r"^UF_CRM_\d{1,4}_[\d_]+$"),
                  re.compile(r"^UF_CRM_\d{1,4}_[A-Z_]+$"))
_REGULAR_CAMEL = (re.compile(r"^[A-Za-z_]+$"), re.compile(r"^ufCrm\d{1,4}_[\d_]+$"),
                  re.compile(r"^ufCrm\d{1,4}[A-Za-z_]+$"))


@lru_cache(maxsize=4096)  # pure; every crm.item command converts its type's ~40 names (profiled hot spot)
def upper_to_camel(name: str) -> str:
    """`UF_CRM_10_5186744711` -> `ufCrm10_5186744711`; mixed UF names keep their tail (`ufCrm_3_DIGIT10`)."""
    if name.upper().startswith("UF_") and not any(p.match(name) for p in _REGULAR_UPPER):
        if name.upper().startswith("UF_CRM_"):
            return "ufCrm_" + name[7:]
        return ("ufCrm" + name[6:]) if name.upper().startswith("UF_CRM") else "uf" + name[3:]
    # Underscores between two digits survive (index.md: "between numeric blocks are preserved").
    marked = re.sub(r"(?<=\d)_(?=\d)", "~", name)
    words = [w for w in marked.lower().split("_") if w]
    camel = "".join(w if i == 0 else w[:1].upper() + w[1:] for i, w in enumerate(words))
    return camel.replace("~", "_")


@lru_cache(maxsize=4096)  # pure, as above
def camel_to_upper(name: str) -> str:
    """`xmlId` -> `XML_ID`, `parentId2` -> `PARENT_ID_2`, `ufCrm_1747309879` -> `UF_CRM_1747309879`."""
    if name.lower().startswith("uf") and not any(p.match(name) for p in _REGULAR_CAMEL):
        if name.lower().startswith("ufcrm_"):
            return "UF_CRM_" + name[6:]
        return ("UF_CRM" + name[5:]) if name.lower().startswith("ufcrm") else "UF_" + name[2:]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"(?<=[A-Za-z])(?=\d)", "_", snake).upper()


class FieldNames:
    """The field names of one entity type: any spelling -> the storage key, and back to the answer's."""

    def __init__(self, standard: Iterable[str], userfields: Iterable[str]) -> None:
        self._alias: dict[str, str] = {}
        self._uf_camel: dict[str, str] = {}
        for camel in standard:
            self._alias[camel] = self._alias[camel_to_upper(camel)] = camel
        for upper in userfields:
            camel = upper_to_camel(upper)
            # CORE: a camel name already taken by another field leaves the UF in UPPER_CASE.
            camel = upper if camel in self._alias else camel
            self._uf_camel[upper] = camel
            self._alias[camel] = self._alias[upper] = upper

    def key(self, name: str) -> str | None:
        """The storage key of a field named in either spelling, None when the type has no such field."""
        if name in self._alias:
            return self._alias[name]
        return self._alias.get(camel_to_upper(name))

    def public(self, key: str, original_uf: bool = False) -> str:
        """The name an answer uses: camelCase, or the UF's own name with `useOriginalUfNames=Y`."""
        if key in self._uf_camel:
            return key if original_uf else self._uf_camel[key]
        return key

    def is_userfield(self, key: str) -> bool:
        """Whether a storage key is a user field."""
        return key in self._uf_camel

    def fields(self, fields: dict) -> dict:
        """`fields` with storage keys; unknown fields are dropped (crm.item ignores them, reference §6)."""
        out = {}
        for name, value in fields.items():
            key = self.key(str(name))
            if key is not None:
                out[key] = value
        return out

    def filter(self, filter_: dict) -> dict:
        """`filter` with storage keys, operator prefixes kept, nested groups and `logic` handled."""
        out: dict = {}
        for name, value in filter_.items():
            name = str(name)
            if name.upper() == "LOGIC":
                out["logic"] = value
                continue
            if isinstance(value, dict) and (name.isdigit() or not OPERATOR_PREFIX.match(name).group(2)):
                out[name] = self.filter(value)
                continue
            op, field = OPERATOR_PREFIX.match(name).groups()
            key = self.key(field)
            if key is None:
                raise RestError(400, "INVALID_ARG_VALUE", f"Invalid filter: field '{field}' is not allowed in filter")
            out[f"{op or ''}{key}"] = value
        return out

    def order(self, order: dict) -> dict:
        """`order` with storage keys; an unknown field is INVALID_ARG_VALUE."""
        out = {}
        for name, direction in order.items():
            key = self.key(str(name))
            if key is None:
                raise RestError(400, "INVALID_ARG_VALUE", f"Invalid order: field '{name}' is not allowed in order")
            out[key] = direction
        return out

    def select(self, select: list) -> list[str]:
        """`select` as storage keys (`*` kept, unknown names dropped)."""
        keys = ["*" if str(name) == "*" else self.key(str(name)) for name in select]
        return [k for k in keys if k is not None]

    def answer(self, row: dict, original_uf: bool = False) -> dict:
        """A stored row renamed for an answer."""
        return {self.public(k, original_uf): v for k, v in row.items()}


def wants_original_uf_names(params: dict) -> bool:
    """`useOriginalUfNames=Y` (DOCS crm-item-get.md): user fields keep their `UF_CRM_…` names."""
    value: Any = params.get("useOriginalUfNames")
    return str(value).upper() in ("Y", "TRUE", "1")
