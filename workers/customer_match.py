"""Existing CRM contacts and companies that a new QuickBooks customer should be linked to, not duplicated.

crm.duplicate.findbycomm answers only ids (≤ 20 values a command) and not which value matched, so the
candidates' EMAIL/PHONE rows are read back (which the update needs anyway) and matched here by the
same normalization multi-fields are compared with.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from clients.bitrix24_batch import Command
from clients.bitrix24_errors import Bitrix24Error, OperationTimeLimit, QueryLimitExceeded, ServerError
from mappers.customer import CustomerRecord
from mappers.multifield import normalized
from mappers.origin import originator_id
from mappers.reasons import reason
from store.links import linked_b24_ids
from workers.b24_writes import read_batch
from workers.reasons import NO_REASON_GIVEN, SEARCH_REFUSED
from workers.sync_state import SyncContext

FINDBYCOMM_VALUES = 20  # crm.duplicate.findbycomm takes at most 20 values (reference §5)
LIST_IDS = 50  # one list page
# A command refused for one of these is worth another attempt: raised, the run stops "running" and resumes.
TRANSIENT_COMMAND = (QueryLimitExceeded, OperationTimeLimit, ServerError)


def chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for index in range(0, len(values), size):
        yield values[index:index + size]


# A portal found holding no records of another origin is believed so for this long: one check per
# minute instead of one per page keeps the customer phase at the batch bound. A contact a person adds
# inside that minute and that matches a customer still to come is the accepted risk (a duplicate).
FOREIGN_RECHECK_S = 60.0


def foreign_entities(ctx: SyncContext, entities: set[str]) -> set[str]:
    """Which entities hold records not made from this realm; a recent "none" verdict is reused."""
    now = time.monotonic()
    verdicts = ctx.foreign_verdicts
    unsure = {entity for entity in entities
              if entity not in verdicts or (not verdicts[entity][0] and now - verdicts[entity][1] > FOREIGN_RECHECK_S)}
    if unsure:
        found = _count_foreign(ctx, unsure)
        verdicts.update({entity: (entity in found, now) for entity in unsure})
    return {entity for entity in entities if verdicts[entity][0]}  # "some" stays true: matching then runs anyway


def _count_foreign(ctx: SyncContext, entities: set[str]) -> set[str]:
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


def match_existing(ctx: SyncContext, creates: list[CustomerRecord]
                   ) -> tuple[dict[str, str], dict[tuple[str, str], dict], dict[str, str]]:
    """{qbo_id: b24_id} for creates that match an unlinked CRM record of another origin, and its stored rows
    by (entity, b24_id) (contact 1 and company 1 are two records);
    also {qbo_id: reason} for creates whose duplicate search Bitrix24 refused (not to be created blind)."""
    wanted = [r for r in creates if r.emails or r.phones]
    if not wanted:
        return {}, {}, {}
    foreign = foreign_entities(ctx, {r.entity for r in wanted})
    wanted = [r for r in wanted if r.entity in foreign]
    if not wanted:
        return {}, {}, {}
    candidates, refused = _candidates(ctx, wanted)
    rows, refused_entities = _candidate_rows(ctx, candidates)
    for record in wanted:
        if record.entity in refused_entities:
            refused.setdefault(record.qbo_id, refused_entities[record.entity])
    stored = {(entity, b24_id): row for entity, by_id in rows.items() for b24_id, row in by_id.items()}
    return _assign([r for r in wanted if r.qbo_id not in refused], rows), stored, refused


def _candidates(ctx: SyncContext,
                records: list[CustomerRecord]) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Candidate ids per entity from findbycomm, batched (≤ 20 values a command); and the records whose
    search Bitrix24 refused, with a reason (a refused search is not "no match": creating would duplicate)."""
    commands, searched = _searches(records)
    answer = read_batch(ctx, commands)
    found: dict[str, set[str]] = {}
    for name, result in answer.results.items():
        entity = name.split("_", 1)[0]
        ids = result.get(entity.upper(), []) if isinstance(result, dict) else []  # [] when nothing matched
        found.setdefault(entity, set()).update(str(i) for i in ids)
    refused: dict[str, str] = {}
    for name, error in answer.errors.items():
        entity, attr, part = searched[name]
        reason = search_refused(error, entity)
        refused.update({r.qbo_id: reason for r in records if r.entity == entity
                        and part & {c.value for c in getattr(r, attr)}})
    return found, refused


def _searches(records: list[CustomerRecord]
              ) -> tuple[dict[str, Command], dict[str, tuple[str, str, set[str]]]]:
    """The findbycomm commands; per command, the entity, the record attribute and the values it searches."""
    commands: dict[str, Command] = {}
    searched: dict[str, tuple[str, str, set[str]]] = {}
    for entity in sorted({r.entity for r in records}):
        of_entity = [r for r in records if r.entity == entity]
        for kind, attr in (("EMAIL", "emails"), ("PHONE", "phones")):
            values = sorted({c.value for r in of_entity for c in getattr(r, attr)})
            for index, part in enumerate(chunks(values, FINDBYCOMM_VALUES)):
                name = f"{entity}_{kind}_{index}"
                commands[name] = ("crm.duplicate.findbycomm", {"type": kind, "values": part,
                                                                "entity_type": entity.upper()})
                searched[name] = (entity, attr, set(part))
    return commands, searched


def search_refused(error: Bitrix24Error, entity: str) -> str:
    """The reason for a record whose duplicate search was refused; a transient refusal is raised instead."""
    if isinstance(error, TRANSIENT_COMMAND):
        raise error
    text = (error.description or NO_REASON_GIVEN).strip().rstrip(".")
    code = f" ({error.code})" if error.code else ""
    return reason(SEARCH_REFUSED, kind=entity, said=f"{text}{code}")


def _candidate_rows(ctx: SyncContext, candidates: dict[str, set[str]]
                    ) -> tuple[dict[str, dict[str, dict]], dict[str, str]]:
    """The candidates not yet linked and not ours, with their EMAIL/PHONE/WEB rows, per entity; and the
    entities whose candidates Bitrix24 refused to list (findbycomm does not say whose), with a reason."""
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
    refused = {name.split("_", 1)[0]: search_refused(error, name.split("_", 1)[0])
               for name, error in answer.errors.items()}
    return rows, refused


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
