"""Existing CRM contacts and companies that a new QuickBooks customer should be linked to, not duplicated.

crm.duplicate.findbycomm answers only ids (≤ 20 values a command) and not which value matched, so the
candidates' EMAIL/PHONE rows are read back (which the update needs anyway) and matched here by the
same normalization multi-fields are compared with.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from clients.bitrix24_batch import Command
from mappers.customer import CustomerRecord
from mappers.multifield import normalized
from mappers.origin import originator_id
from store.links import linked_b24_ids
from workers.b24_writes import read_batch
from workers.sync_state import SyncContext

FINDBYCOMM_VALUES = 20  # crm.duplicate.findbycomm takes at most 20 values (reference §5)
LIST_IDS = 50  # one list page


def chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for index in range(0, len(values), size):
        yield values[index:index + size]


def foreign_entities(ctx: SyncContext, entities: set[str]) -> set[str]:
    """Which entities hold records not made from this realm (one batch; exact-match filters only).

    Two counts per entity, all and ours, because whether `!ORIGINATOR_ID` also matches records with
    no ORIGINATOR_ID at all is not documented; exact `ORIGINATOR_ID` equality and no filter are.
    """
    ours = originator_id(ctx.realm_id)
    commands: dict[str, Command] = {}
    for entity in sorted(entities):
        commands[f"all_{entity}"] = (f"crm.{entity}.list", {"select": ["ID"], "filter": {}})
        commands[f"ours_{entity}"] = (f"crm.{entity}.list", {"select": ["ID"], "filter": {"ORIGINATOR_ID": ours}})
    answer = read_batch(ctx, commands)
    found = set()
    for entity in entities:
        every, mine = answer.total.get(f"all_{entity}"), answer.total.get(f"ours_{entity}")
        if every is None or mine is None or every > mine:  # unknown counts: match to be safe
            found.add(entity)
    return found


def match_existing(ctx: SyncContext, creates: list[CustomerRecord]) -> tuple[dict[str, str], dict[str, dict]]:
    """{qbo_id: b24_id} for creates that match an unlinked CRM record of another origin, and its stored rows."""
    wanted = [r for r in creates if r.emails or r.phones]
    if not wanted:
        return {}, {}
    foreign = foreign_entities(ctx, {r.entity for r in wanted})
    wanted = [r for r in wanted if r.entity in foreign]
    if not wanted:
        return {}, {}
    candidates = _candidates(ctx, wanted)
    rows = _candidate_rows(ctx, candidates)
    return _assign(wanted, rows), {b24_id: row for entity_rows in rows.values() for b24_id, row in entity_rows.items()}


def _candidates(ctx: SyncContext, records: list[CustomerRecord]) -> dict[str, set[str]]:
    """Candidate ids per entity from findbycomm, batched (≤ 20 values a command)."""
    commands: dict[str, Command] = {}
    for entity in sorted({r.entity for r in records}):
        of_entity = [r for r in records if r.entity == entity]
        for kind, values in (("EMAIL", sorted({c.value for r in of_entity for c in r.emails})),
                             ("PHONE", sorted({c.value for r in of_entity for c in r.phones}))):
            for index, part in enumerate(chunks(values, FINDBYCOMM_VALUES)):
                commands[f"{entity}_{kind}_{index}"] = ("crm.duplicate.findbycomm",
                                                        {"type": kind, "values": part, "entity_type": entity.upper()})
    answer = read_batch(ctx, commands)
    found: dict[str, set[str]] = {}
    for name, result in answer.results.items():
        entity = name.split("_", 1)[0]
        ids = result.get(entity.upper(), []) if isinstance(result, dict) else []  # [] when nothing matched
        found.setdefault(entity, set()).update(str(i) for i in ids)
    return found


def _candidate_rows(ctx: SyncContext, candidates: dict[str, set[str]]) -> dict[str, dict[str, dict]]:
    """The candidates not yet linked and not ours, with their EMAIL/PHONE/WEB rows, per entity."""
    commands: dict[str, Command] = {}
    for entity, ids in candidates.items():
        free = sorted(ids - linked_ids(ctx, entity, ids), key=int)
        for index, part in enumerate(chunks(free, LIST_IDS)):
            commands[f"{entity}_{index}"] = (f"crm.{entity}.list", {
                "filter": {"@ID": part}, "select": ["ID", "ORIGINATOR_ID", "EMAIL", "PHONE", "WEB"], "start": -1})
    answer = read_batch(ctx, commands)
    ours = originator_id(ctx.realm_id)
    rows: dict[str, dict[str, dict]] = {}
    for name, result in answer.results.items():
        entity = name.split("_", 1)[0]
        for row in result or []:
            if row.get("ORIGINATOR_ID") != ours:  # ours but unlinked is a crash leftover: recovery's, not a match
                rows.setdefault(entity, {})[str(row["ID"])] = row
    return rows


def linked_ids(ctx: SyncContext, entity: str, ids: set[str]) -> set[str]:
    with ctx.sessions() as session:
        return linked_b24_ids(session, ctx.portal_id, entity, ids)


def _assign(records: list[CustomerRecord], rows: dict[str, dict[str, dict]]) -> dict[str, str]:
    """Each record to the lowest-id candidate sharing an email (else a phone), each candidate used once."""
    taken: set[str] = set()
    matched: dict[str, str] = {}
    for record in records:
        entity_rows = rows.get(record.entity, {})
        for kind, comms in (("EMAIL", record.emails), ("PHONE", record.phones)):
            keys = {normalized(c.value) for c in comms} - {""}
            hit = next((i for i in sorted(entity_rows, key=int) if i not in taken
                        and keys & {normalized(str(v.get("VALUE") or "")) for v in entity_rows[i].get(kind) or []}),
                       None)
            if hit:
                matched[record.qbo_id] = hit
                taken.add(hit)
                break
    return matched
