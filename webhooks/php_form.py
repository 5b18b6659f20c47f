"""Decode PHP bracket form fields (`auth[member_id]=…&data[FIELDS][ID]=7`) into nested dicts."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
MAX_DEPTH = 8


def _path(name: str) -> list[str] | None:
    """`a[b][c]` → ["a", "b", "c"]; None when the brackets are malformed."""
    head, bracket, rest = name.partition("[")
    if not bracket:
        return [name]
    rest = "[" + rest
    keys = _SEGMENT.findall(rest)
    if not head or "".join(f"[{k}]" for k in keys) != rest or len(keys) > MAX_DEPTH:
        return None
    return [head, *keys]


def php_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested dict from (name, value) pairs as PHP reads `$_POST`; `a[]` appends to a list.

    As in PHP, a later scalar replaces an earlier one and a name whose brackets do not close is
    kept as a flat key; a scalar never turns into a container (the later shape is dropped).
    """
    root: dict[str, Any] = {}
    for name, value in pairs:
        keys = _path(name)
        if keys is None:
            root[name] = value
            continue
        _assign(root, keys, value)
    return root


def _assign(node: dict[str, Any] | list, keys: list[str], value: str) -> None:
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        if isinstance(node, list):
            if key != "":
                return  # PHP would turn the list into a map; no Bitrix24 payload does this
            if last:
                node.append(value)
                return
            node.append({})
            node = node[-1]
            continue
        if key == "":
            key = str(sum(1 for k in node if k.isdigit()))
        if last:
            node[key] = value
            return
        child = node.get(key)
        if child is None:
            child = [] if keys[position + 1] == "" else {}
            node[key] = child
        elif not isinstance(child, (dict, list)):
            return
        node = child
