"""Bitrix24 writes of a page: commands packed into as few `batch` requests as possible, per-record outcomes.

A record's commands (e.g. a Smart Invoice's crm.item.add and its crm.item.productrow.set, which refers
to the new id through `$result[name][item][id]`) must travel in one request, so a record's commands are
a group that is never split; groups are packed greedily into requests of at most 50 commands.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from clients.bitrix24_batch import MAX_COMMANDS, BatchResult, Command
from clients.bitrix24_errors import Bitrix24Error
from mappers.reasons import reason
from workers import reasons as R
from workers.sync_state import Cancelled, SyncContext

REQUIRED_FIELD_ERROR = "CRM_FIELD_ERROR_REQUIRED"
REQUIRED_FIELD_ADVICE = R.REQUIRED_FIELD_ADVICE


@dataclass
class Write:
    """One record's commands; later commands may refer to earlier ones by name."""

    key: str
    commands: dict[str, Command]


@dataclass
class WriteOutcome:
    """What Bitrix24 answered to one record's commands."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Bitrix24Error] = field(default_factory=dict)

    def first_error(self) -> Bitrix24Error | None:
        return next(iter(self.errors.values()), None)


def pack(writes: list[Write]) -> Iterator[list[Write]]:
    """Writes grouped into requests of at most 50 commands, a record's commands never split."""
    chunk: list[Write] = []
    size = 0
    for write in writes:
        if size + len(write.commands) > MAX_COMMANDS and chunk:
            yield chunk
            chunk, size = [], 0
        chunk.append(write)
        size += len(write.commands)
    if chunk:
        yield chunk


def send_writes(ctx: SyncContext, writes: list[Write]) -> tuple[dict[str, WriteOutcome], bool]:
    """Send the writes; the outcomes by key, and whether the run was cancelled before all were sent."""
    outcomes: dict[str, WriteOutcome] = {}
    for chunk in pack(writes):
        try:
            ctx.check_cancelled()
        except Cancelled:
            return outcomes, True
        answer = ctx.b24.batch({name: command for write in chunk for name, command in write.commands.items()})
        for write in chunk:
            outcomes[write.key] = outcome_of(write.commands, answer)
    return outcomes, False


def send_together(ctx: SyncContext, *groups: list[Write]) -> tuple[list[dict[str, WriteOutcome]], bool]:
    """Several pages' writes packed into the same requests (their command names must differ); the outcomes
    per group, and whether the run was cancelled before all were sent."""
    tagged = [Write(f"{index}:{write.key}", write.commands) for index, group in enumerate(groups) for write in group]
    outcomes, cancelled = send_writes(ctx, tagged)
    split: list[dict[str, WriteOutcome]] = [{} for _ in groups]
    for key, outcome in outcomes.items():
        index, own = key.split(":", 1)
        split[int(index)][own] = outcome
    return split, cancelled


def outcome_of(commands: Mapping[str, Command], answer: BatchResult) -> WriteOutcome:
    """One record's share of a batch answer."""
    return WriteOutcome(results={n: answer.results[n] for n in commands if n in answer.results},
                        errors={n: answer.errors[n] for n in commands if n in answer.errors})


def read_batch(ctx: SyncContext, commands: dict[str, Command]) -> BatchResult:
    """Read-only commands in as few requests as possible (reads are allowed in dry runs)."""
    if not commands:
        return BatchResult()
    return ctx.b24.batch(commands)


def command_reason(error: Bitrix24Error, action: str, what: str) -> str:
    """A sentence a person can act on for a refused command."""
    text = (error.description or R.NO_REASON_GIVEN).strip().rstrip(".")
    code = f" ({error.code})" if error.code else ""
    refused = reason(R.REFUSED[action], what=what, said=f"{text}{code}")
    return f"{refused} {REQUIRED_FIELD_ADVICE if error.code == REQUIRED_FIELD_ERROR else R.CORRECT_AND_SYNC}"


def created_id(result: Any) -> str | None:
    """The new record's id from an add answer: an int (classic) or {"item": {"id": ...}} (crm.item)."""
    if isinstance(result, Mapping):
        item = result.get("item") or {}
        return str(item["id"]) if item.get("id") else None
    if result in (None, False, ""):
        return None
    return str(result)
