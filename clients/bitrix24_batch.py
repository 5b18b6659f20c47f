"""Bitrix24 `batch`: command encoding, chunking by reference groups, and the per-command result.

Reference §7: at most 50 commands per batch; each command is "method?query" with its params in
PHP bracket form; `$result[name][...]` refers to an earlier command of the *same* request; the
answer's empty sections are PHP empty arrays (`[]`) instead of objects.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from clients.bitrix24_errors import Bitrix24Error, error_from_body

MAX_COMMANDS = 50
Command = tuple[str, Mapping[str, Any]]

_REFERENCE = re.compile(r"\$result(?:_total|_next|_error|_time)?\[([^\]]+)\]")


def php_query(params: Mapping[str, Any]) -> str:
    """Encode params like PHP's http_build_query (`filter[>ID]=5&select[0]=ID`).

    As in PHP, None and empty lists/dicts vanish (a query string cannot say "empty array"), and
    booleans become 1/0. `$` and brackets stay literal so `$result[...]` references read as sent.
    """
    pairs: list[str] = []
    for key, value in params.items():
        _flatten(quote(str(key), safe="[]"), value, pairs)
    return "&".join(pairs)


def _flatten(name: str, value: Any, pairs: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{name}[{quote(str(key), safe='')}]", inner, pairs)
    elif isinstance(value, (list, tuple)):
        for index, inner in enumerate(value):
            _flatten(f"{name}[{index}]", inner, pairs)
    elif value is not None:
        text = ("1" if value else "0") if isinstance(value, bool) else str(value)
        pairs.append(f"{name}={quote(text, safe='[]$')}")


def encode_command(method: str, params: Mapping[str, Any]) -> str:
    """One batch command string."""
    query = php_query(params)
    return f"{method}?{query}" if query else method


def named_commands(commands: Mapping[str, Command] | Sequence[Command]) -> dict[str, Command]:
    """Commands by name; a list is named "0", "1", ... in order."""
    if isinstance(commands, Mapping):
        return {str(name): command for name, command in commands.items()}
    return {str(index): command for index, command in enumerate(commands)}


def chunk_commands(encoded: dict[str, str]) -> list[dict[str, str]]:
    """Split into requests of ≤ 50 commands, keeping every command with those it references.

    A reference can only be resolved inside one request, so commands linked by `$result[...]`
    form a group that is never split; a group larger than 50 is the caller's to restructure.
    """
    parent = {name: name for name in encoded}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for name, command in encoded.items():
        for target in _REFERENCE.findall(command):
            if target in parent:
                parent[root(name)] = root(target)
    groups: dict[str, list[str]] = {}
    for name in encoded:
        groups.setdefault(root(name), []).append(name)
    return _pack([members for members in groups.values()], encoded)


def _pack(groups: list[list[str]], encoded: dict[str, str]) -> list[dict[str, str]]:
    chunks: list[dict[str, str]] = [{}]
    for members in groups:
        if len(members) > MAX_COMMANDS:
            raise ValueError(f"{len(members)} batch commands reference each other; at most {MAX_COMMANDS} fit")
        if len(chunks[-1]) + len(members) > MAX_COMMANDS:
            chunks.append({})
        chunks[-1].update({name: encoded[name] for name in members})
    return [chunk for chunk in chunks if chunk]


def _section(value: Any) -> dict[str, Any]:
    # PHP serializes an empty or 0..n-indexed array as a JSON list
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    return {str(key): item for key, item in (value or {}).items()}


@dataclass
class BatchResult:
    """Per-command outcome of one or more batch requests: successes and typed errors apart."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Bitrix24Error] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    next: dict[str, int] = field(default_factory=dict)
    time: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Any) -> BatchResult:
        """Parse the `result` member of a batch answer."""
        if not isinstance(result, Mapping):
            result = {}
        errors = {}
        for name, body in _section(result.get("result_error")).items():
            error = error_from_body(body, None)
            errors[name] = error or Bitrix24Error("", str(body), None)
        return cls(results=_section(result.get("result")), errors=errors,
                   total={k: int(v) for k, v in _section(result.get("result_total")).items()},
                   next={k: int(v) for k, v in _section(result.get("result_next")).items()},
                   time=_section(result.get("result_time")))

    def merge(self, other: BatchResult) -> None:
        """Add another chunk's outcome."""
        for mine, theirs in ((self.results, other.results), (self.errors, other.errors),
                             (self.total, other.total), (self.next, other.next), (self.time, other.time)):
            mine.update(theirs)
