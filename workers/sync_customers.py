"""One page of QuickBooks customers into CRM contacts and companies: map, split, match, write, bind."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clients.bitrix24_batch import Command
from mappers.customer import CustomerRecord, is_sub_customer, job_name, map_customer, parent_id
from mappers.errors import MappingError
from mappers.comm import Comm
from mappers.multifield import multifield_changes, multifield_new, normalized
from mappers.qbo_time import meta_time
from store.links import links_for_qbo_ids
from store.models import Link
from workers.b24_writes import Write, WriteOutcome, command_reason, created_id, read_batch, send_writes
from workers.customer_match import LIST_IDS, chunks, match_existing
from workers.reasons import NO_ID, NO_PERSON_ID
from workers.sync_recover import recover_by_origin
from workers.sync_state import Binding, SyncContext, mapping_reason

CUSTOMER, PERSON = "Customer", "CustomerPerson"  # Link.qbo_type of a customer and of its person contact
MULTI = (("EMAIL", "emails"), ("PHONE", "phones"), ("WEB", "webs"))
MARKERS = ("ORIGINATOR_ID", "ORIGIN_ID")


@dataclass
class Update:
    """A customer already in the CRM: linked, recovered after a crash, or matched by email/phone."""

    record: CustomerRecord
    b24_id: str
    person_id: str | None
    how: str  # "linked" | "recovered" | "matched"


@dataclass
class CustomerWrites:
    """A mapped, matched page ready to write (prepare_customer_page), settled with the writes' outcomes."""

    page: list[dict]
    creates: list[CustomerRecord]
    updates: list[Update]
    writes: list[Write]

    @property
    def independent(self) -> bool:
        """Only linked records: an invoice of the same pull finds its customer in the link store already,
        so these writes may share the invoices' batches (workers/change_apply.py)."""
        return not self.creates and all(u.how == "linked" for u in self.updates)


def sync_customer_page(ctx: SyncContext, page: list[dict], resumed: bool) -> tuple[list[Binding], bool]:
    """Write one page; the links to bind with the checkpoint, and whether the run was cancelled meanwhile."""
    prepared = prepare_customer_page(ctx, page, resumed)
    if prepared is None:
        return [], False
    outcomes, cancelled = send_writes(ctx, prepared.writes)
    return settle_customer_page(ctx, prepared, outcomes, cancelled)


def prepare_customer_page(ctx: SyncContext, page: list[dict], resumed: bool) -> CustomerWrites | None:
    """Map, split, recover and match one page, and read the stored multi-fields: its writes, not sent
    (None in a dry run, which only counts)."""
    ids = [str(c["Id"]) for c in page]
    with ctx.sessions() as session:  # before mapping: a linked customer keeps its record's kind
        links = links_for_qbo_ids(session, ctx.portal_id, CUSTOMER, ids)
        persons = links_for_qbo_ids(session, ctx.portal_id, PERSON, ids)
    records = _map_page(ctx, page, links)
    creates, updates = _split(ctx, records, links, persons)
    found: dict[str, str] = {}
    if resumed and not ctx.dry_run:
        creates, updates, found = _recover(ctx, creates, updates)
    matched, stored, refused = match_existing(ctx, creates) if creates else ({}, {}, {})
    creates = _drop_refused(ctx, creates, refused)
    updates += [Update(r, matched[r.qbo_id], found.get(_person_marker(r)), "matched")
                for r in creates if r.qbo_id in matched]
    creates = [r for r in creates if r.qbo_id not in matched]
    ctx.count("customers", "matched", len(matched))
    if ctx.dry_run:
        ctx.count("customers", "imported", len(creates))
        ctx.count("customers", "updated", len(updates))
        return None
    stored.update(read_multifields(ctx, [u for u in updates if _key(u) not in stored]))
    writes = [_create(r) for r in creates] + [_update(u, stored.get(_key(u), {})) for u in updates]
    return CustomerWrites(page, creates, updates, writes)


def settle_customer_page(ctx: SyncContext, prepared: CustomerWrites, outcomes: dict[str, WriteOutcome],
                         cancelled: bool) -> tuple[list[Binding], bool]:
    """The person contacts of new companies, then the page's links and tallies from the writes' outcomes."""
    page, creates, updates = prepared.page, prepared.creates, prepared.updates
    if not cancelled:
        cancelled = _add_persons(ctx, creates, outcomes)
    stamps = {c["Id"]: meta_time(c) for c in page}
    bindings = [b for r in creates if r.qbo_id in outcomes for b in _settle_create(ctx, r, outcomes[r.qbo_id])]
    bindings += [b for u in updates if u.record.qbo_id in outcomes for b in _settle_update(ctx, u, outcomes[u.record.qbo_id])]
    return [_with_stamp(b, stamps) for b in bindings], cancelled


def _drop_refused(ctx: SyncContext, creates: list[CustomerRecord],
                  refused: dict[str, str]) -> list[CustomerRecord]:
    """Creates whose duplicate search was refused fail (their invoices too): created blind, they could
    duplicate a record already in the portal."""
    for record in creates:
        if record.qbo_id in refused:
            ctx.cursor["failed_customers"][record.qbo_id] = _record_name(record)
            ctx.fail("customers", CUSTOMER, record.qbo_id, _record_name(record), refused[record.qbo_id])
    return [r for r in creates if r.qbo_id not in refused]


def _map_page(ctx: SyncContext, page: list[dict], links: dict[str, Link]) -> list[CustomerRecord]:
    """Top-level customers mapped; sub-customers remembered (their invoices go to the ancestor); failures noted.

    A linked customer is mapped as the kind of its linked record, whatever the rule (map_customer's
    `linked_as`): a record a user exported from Bitrix24 is updated as the contact or company it is, never
    imported again as the other kind; the rule decides only for customers not linked yet."""
    rule = ctx.stored_settings.get("customer_rule", "by_company_name")
    records = []
    for customer in page:
        qbo_id, name = str(customer["Id"]), _name(customer)
        if is_sub_customer(customer):
            # a job has no CRM record of its own (docs/mapping.md); kept so invoices find its ancestor
            ctx.cursor["subs"][qbo_id] = [parent_id(customer) or "", job_name(customer) or name]
            ctx.count("customers", "placed")  # not "unchanged": nothing of it was ever written
            continue
        try:
            link = links.get(qbo_id)
            records.append(map_customer(customer, realm_id=ctx.realm_id, rule=rule,
                                        linked_as=link.b24_type if link is not None else None))
        except (MappingError, KeyError, TypeError, ValueError) as error:
            ctx.cursor["failed_customers"][qbo_id] = name
            ctx.fail("customers", CUSTOMER, qbo_id, name, mapping_reason(error))
    return records


def _name(customer: dict) -> str:
    return str(customer.get("DisplayName") or customer.get("CompanyName") or customer.get("Id"))


def _split(ctx: SyncContext, records: list[CustomerRecord], links: dict[str, Link],
           persons: dict[str, Link]) -> tuple[list[CustomerRecord], list[Update]]:
    """Creates and updates; records whose link holds the same content hash are unchanged (no Bitrix24 call)."""
    creates, updates = [], []
    for record in records:
        link = links.get(record.qbo_id)
        if link is None:
            creates.append(record)
        elif link.content_hash == record.content_hash:
            ctx.count("customers", "skipped")
        else:
            person = persons.get(record.qbo_id)
            updates.append(Update(record, link.b24_id, person.b24_id if person else None, "linked"))
    return creates, updates


def _recover(ctx: SyncContext, creates: list[CustomerRecord],
             updates: list[Update]) -> tuple[list[CustomerRecord], list[Update], dict[str, str]]:
    """Creates the interrupted page already made become updates of those records; person contacts it added
    (to new, linked or matched companies) are found too. Also the {ORIGIN_ID: id} found."""
    found: dict[str, str] = {}
    for entity in ("contact", "company"):
        markers = [r.fields["ORIGIN_ID"] for r in creates if r.entity == entity]
        if entity == "contact":  # any person the page may have added: a create's, or an update's that had none
            markers += [_person_marker(r) for r in creates if r.person]
            markers += [_person_marker(u.record) for u in updates if u.record.person and not u.person_id]
        if markers:
            found.update(recover_by_origin(ctx, entity, markers))
    for update in updates:
        update.person_id = update.person_id or found.get(_person_marker(update.record))
    still = [r for r in creates if r.fields["ORIGIN_ID"] not in found]
    updates += [Update(r, found[r.fields["ORIGIN_ID"]], found.get(_person_marker(r)), "recovered")
                for r in creates if r.fields["ORIGIN_ID"] in found]
    return still, updates, found


def _person_marker(record: CustomerRecord) -> str:
    return str((record.person or {}).get("ORIGIN_ID") or "")


def _key(update: Update) -> tuple[str, str]:
    """A CRM record's key: contacts and companies number their ids apart (contact 1 is not company 1)."""
    return update.record.entity, update.b24_id


def read_multifields(ctx: SyncContext, updates: list[Update]) -> dict[tuple[str, str], dict]:
    """The stored EMAIL/PHONE/WEB rows of the records to update, by (entity, id): one list command per 50."""
    commands: dict[str, Command] = {}
    for entity in ("contact", "company"):
        ids = sorted({u.b24_id for u in updates if u.record.entity == entity}, key=int)
        for index, part in enumerate(chunks(ids, LIST_IDS)):
            commands[f"{entity}_{index}"] = (f"crm.{entity}.list", {
                "filter": {"@ID": part}, "select": ["ID", "EMAIL", "PHONE", "WEB"], "start": -1})
    answer = read_batch(ctx, commands)
    if answer.errors:
        raise next(iter(answer.errors.values()))  # updating blind would append duplicate emails
    return {(name.split("_", 1)[0], str(row["ID"])): row
            for name, result in answer.results.items() for row in result or []}


def _create(record: CustomerRecord) -> Write:
    fields = {**record.fields, **{key: multifield_new(getattr(record, attr)) for key, attr in MULTI
                                  if getattr(record, attr, ())}}
    return Write(record.qbo_id, {f"c{record.qbo_id}": (f"crm.{record.entity}.add", {"fields": fields})})


def _add_persons(ctx: SyncContext, creates: list[CustomerRecord], outcomes: dict[str, WriteOutcome]) -> bool:
    """The person contacts of the companies just created, in a second round (whether the run was cancelled).

    Not through `$result[...]` in the company's request: a reference to a refused add resolves to ''
    and Bitrix24 would create the person with no company, once more on every run. At most one request
    more a page; a crash between the rounds is recovered (the company by marker, then its person added).
    """
    writes = []
    for record in creates:
        outcome = outcomes.get(record.qbo_id)
        company = created_id(outcome.results.get(f"c{record.qbo_id}")) if outcome else None
        if record.person and company and f"c{record.qbo_id}" not in outcome.errors:
            writes.append(Write(record.qbo_id, {f"p{record.qbo_id}": (
                "crm.contact.add", {"fields": {**record.person, "COMPANY_ID": company}})}))
    more, cancelled = send_writes(ctx, writes)
    for key, outcome in more.items():
        outcomes[key].results.update(outcome.results)
        outcomes[key].errors.update(outcome.errors)
    return cancelled


def _update(update: Update, stored: dict[str, Any]) -> Write:
    record = update.record
    matched = update.how == "matched"
    fields = _matched_fields(record.fields) if matched else dict(record.fields)
    for key, attr in MULTI:
        plan = _additions if matched else multifield_changes
        changes = plan(stored.get(key) or [], getattr(record, attr, ()))
        if changes:
            fields[key] = changes
    commands: dict[str, Command] = {f"u{record.qbo_id}": (f"crm.{record.entity}.update",
                                                          {"id": update.b24_id, "fields": fields})}
    if record.person and update.person_id:
        commands[f"p{record.qbo_id}"] = ("crm.contact.update", {"id": update.person_id, "fields": record.person})
    elif record.person:
        commands[f"p{record.qbo_id}"] = ("crm.contact.add", {"fields": {**record.person, "COMPANY_ID": update.b24_id}})
    return Write(record.qbo_id, commands)


def _matched_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A matched record is the portal user's own: QuickBooks adds its values but never blanks theirs.

    Its origin markers stay the portal's too; the link binds it to us.
    """
    return {key: value for key, value in fields.items() if key not in MARKERS and value not in ("", None)}


def _additions(stored: list[dict], desired: tuple[Comm, ...]) -> list[dict]:
    """Only the QuickBooks values the matched record lacks: its own emails and phones are neither overwritten
    nor deleted."""
    held = {normalized(str(row.get("VALUE") or "")) for row in stored}
    return multifield_new([comm for comm in desired if normalized(comm.value) not in held])


def _settle_create(ctx: SyncContext, record: CustomerRecord, outcome: WriteOutcome) -> list[Binding]:
    name = _record_name(record)
    error = outcome.errors.get(f"c{record.qbo_id}")
    b24_id = None if error else created_id(outcome.results.get(f"c{record.qbo_id}"))
    if b24_id is None:
        ctx.cursor["failed_customers"][record.qbo_id] = name
        ctx.fail("customers", CUSTOMER, record.qbo_id, name,
                 command_reason(error, "create", record.entity) if error else NO_ID)
        return []
    return _bindings(ctx, record, b24_id, outcome, "imported", "create")


def _settle_update(ctx: SyncContext, update: Update, outcome: WriteOutcome) -> list[Binding]:
    record = update.record
    error = outcome.errors.get(f"u{record.qbo_id}")
    if error is not None:
        name = _record_name(record)
        ctx.fail("customers", CUSTOMER, record.qbo_id, name, command_reason(error, "update", record.entity))
        keep = [] if update.how == "linked" else [Binding(CUSTOMER, record.qbo_id, record.entity, update.b24_id, None)]
        return keep  # a recovered or matched record is still ours: bind it, so the next run updates it
    how = "imported" if update.how == "recovered" else "updated"
    return _bindings(ctx, record, update.b24_id, outcome, how, "update", update.person_id)


def _bindings(ctx: SyncContext, record: CustomerRecord, b24_id: str, outcome: WriteOutcome, how: str,
              action: str, person_known: str | None = None) -> list[Binding]:
    """The customer's link (hash only when every command succeeded) and its person contact's."""
    name = f"p{record.qbo_id}"
    person_error = outcome.errors.get(name)
    person_id = person_known or (created_id(outcome.results.get(name)) if person_error is None else None)
    complete = not record.person or bool(person_id)
    bindings = [Binding(CUSTOMER, record.qbo_id, record.entity, b24_id, record.content_hash if complete else None)]
    if person_id:
        bindings.append(Binding(PERSON, record.qbo_id, "contact", person_id, None))
    if complete:
        ctx.count("customers", how)
    elif person_error is not None or name in outcome.results:
        ctx.fail("customers", CUSTOMER, record.qbo_id, _record_name(record),
                 command_reason(person_error, action, "company's contact person") if person_error
                 else NO_PERSON_ID)
    # else the person was never sent (the run was cancelled): bound without a hash, so the next run adds it
    return bindings


def _record_name(record: CustomerRecord) -> str:
    fields = record.fields
    return str(fields.get("TITLE") or " ".join(p for p in (fields.get("NAME"), fields.get("LAST_NAME")) if p)
               or record.qbo_id)


def _with_stamp(binding: Binding, stamps: dict[str, Any]) -> Binding:
    if binding.qbo_type != CUSTOMER:
        return binding
    return Binding(binding.qbo_type, binding.qbo_id, binding.b24_type, binding.b24_id, binding.content_hash,
                   stamps.get(binding.qbo_id))
