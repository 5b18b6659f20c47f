"""PHP bracket-notation parsing and building (`a[b][0]=x`), as Bitrix24 reads and writes forms."""
from __future__ import annotations

import re
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlencode

_KEY = re.compile(r"\[([^\]]*)\]")


def _split_key(key: str) -> list[str]:
    """`a[b][]` -> ['a', 'b', '']; a key without brackets stays whole."""
    head, bracket, _ = key.partition("[")
    if not bracket or not key.endswith("]"):
        return [key]
    return [head] + _KEY.findall(key[len(head):])


def _listify(node: Any) -> Any:
    """Turn dicts keyed "0".."n-1" into lists, as PHP arrays serialise to JSON lists."""
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and list(node) == [str(i) for i in range(len(node))]:
            return list(node.values())
    return node


def php_parse(pairs: Iterable[tuple[str, str]]) -> dict:
    """Nest (key, value) pairs written in PHP bracket notation into dicts/lists."""
    root: dict = {}
    for key, value in pairs:
        parts = _split_key(key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _listify(root)


def php_parse_query(query: str) -> dict:
    """Parse a raw query string in PHP bracket notation."""
    return php_parse(parse_qsl(query, keep_blank_values=True))


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    """Append the bracket-notation pairs of one value."""
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}[{k}]", v, out)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _flatten(f"{prefix}[{i}]", v, out)
    elif value is None:
        out.append((prefix, ""))
    elif isinstance(value, bool):
        out.append((prefix, "1" if value else "0"))
    else:
        out.append((prefix, str(value)))


def php_pairs(data: dict) -> list[tuple[str, str]]:
    """Flatten a nested dict to ordered bracket-notation pairs."""
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        _flatten(key, value, out)
    return out


def php_encode(data: dict) -> str:
    """Encode like PHP's http_build_query (`[`->%5B, `,`->%2C, space->+)."""
    return urlencode(php_pairs(data))
