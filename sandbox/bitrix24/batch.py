"""`batch`: up to 50 commands, `halt`, `$result[name][…]` back-references, `[]` for empty sections."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.params import php_parse
from sandbox.bitrix24.registry import CallContext, method
from sandbox.bitrix24.rest import call_method

MAX_COMMANDS = 50
_REF = re.compile(r"\$result\[([^\]]+)\]((?:\[[^\]]*\])*)")


def php_array(section: dict) -> Any:
    """PHP's json_encode: empty -> [], keys 0..n-1 -> a list, otherwise an object."""
    if not section:
        return []
    if list(section) == [str(i) for i in range(len(section))]:
        return list(section.values())
    return section


def _resolve(results: dict, match: re.Match) -> str:
    """The value a `$result[name][a][b]` reference points to ('' when it is missing)."""
    node: Any = results.get(match.group(1))
    for key in re.findall(r"\[([^\]]*)\]", match.group(2)):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return ""
    if isinstance(node, bool):
        return "1" if node else ""
    return "" if node is None or isinstance(node, (dict, list)) else str(node)


def _parse_command(command: Any, results: dict) -> tuple[str, dict]:
    """`method?query` with references substituted -> (method, params)."""
    if not isinstance(command, str) or not command:
        raise RestError(400, "ERROR_ARGUMENT", "Command must be a non-empty string")
    name, _, query = command.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    if any("$result" in k or "$result" in v for k, v in pairs):  # most refer to nothing: skip ~40 re.subs
        pairs = [(_REF.sub(lambda m: _resolve(results, m), k), _REF.sub(lambda m: _resolve(results, m), v))
                 for k, v in pairs]
    return name.strip().lower().removesuffix(".json"), php_parse(pairs)


def _commands(params: dict) -> dict:
    """`cmd` as an ordered name -> command map (a list is keyed "0", "1", …)."""
    cmd = params.get("cmd")
    if isinstance(cmd, list):
        return {str(i): c for i, c in enumerate(cmd)}
    if not isinstance(cmd, dict) or not cmd:
        raise RestError(400, "ERROR_ARGUMENT", "Argument 'cmd' is null or empty")
    return {str(k): v for k, v in cmd.items()}


@method("batch", scope=None)
def batch(ctx: CallContext, params: dict) -> dict:
    """Run commands in order; per-command errors go to result_error (HTTP 200 for the batch)."""
    halt = str(params.get("halt", "0")).lower() in ("1", "true", "y")
    sections: dict[str, dict] = {"result": {}, "result_error": {}, "result_total": {},
                                 "result_next": {}, "result_time": {}}
    for index, (name, command) in enumerate(_commands(params).items()):
        try:
            if index >= MAX_COMMANDS:
                raise RestError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
            method_name, sub_params = _parse_command(command, sections["result"])
            if method_name == "batch":
                raise RestError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
            sub_params.pop("auth", None)
            envelope, block = call_method(ctx, method_name, sub_params)
        except RestError as err:
            sections["result_error"][name] = err.body()
            if halt:
                break
            continue
        sections["result"][name] = envelope["result"]
        sections["result_time"][name] = block
        for key in ("total", "next"):
            if key in envelope:
                sections[f"result_{key}"][name] = envelope[key]
    return {"result": {k: php_array(v) for k, v in sections.items()}}
