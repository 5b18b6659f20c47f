"""The entity types crm.item serves here: Smart Invoices (31), contacts (3) and companies (4)."""
from __future__ import annotations

from dataclasses import dataclass

from sandbox.bitrix24 import classic, classic_items, smart_invoice
from sandbox.bitrix24.crm_store import compile_filter, id_candidates, select_rows
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.events import EventSender
from sandbox.bitrix24.item_keys import FieldNames
from sandbox.bitrix24.state import Portal, State

def _get(row: dict, field: str) -> object:
    """A stored or shown field's value for filtering."""
    return row.get(field)


# Types a real portal serves through crm.item that this sandbox does not model.
_UNMODELLED = {1, 2, 7}


@dataclass(frozen=True)
class SmartInvoiceType:
    """Smart Invoices: camelCase records of their own (smart_invoice.py)."""

    entity_type_id: int = smart_invoice.ENTITY_TYPE_ID
    uf_entity: str = smart_invoice.UF_ENTITY

    def names(self, portal: Portal) -> FieldNames:
        """Field names of this type on this portal."""
        return FieldNames(smart_invoice.STANDARD, smart_invoice.userfield_names(portal))

    def rows(self, portal: Portal, filter_: dict) -> list[dict]:
        """The records passing a storage-keyed filter, as crm.item shows them (only those are built)."""
        stored = portal.entities.get(smart_invoice.KIND, {})
        return [smart_invoice.view(portal, r) for r in select_rows(stored, filter_, _get, "id")]

    def get(self, portal: Portal, item_id: int) -> dict:
        """One record or NOT_FOUND."""
        return smart_invoice.view(portal, smart_invoice.get(portal, item_id))

    def create(self, state: State, sender: EventSender, portal: Portal, fields: dict, user_id: int) -> dict:
        """Add a record from storage-keyed fields."""
        return smart_invoice.view(portal, smart_invoice.create(state, sender, portal, fields, user_id))

    def update(self, state: State, sender: EventSender, portal: Portal, item_id: int, fields: dict,
               user_id: int) -> dict:
        """Change a record from storage-keyed fields."""
        return smart_invoice.view(portal, smart_invoice.update(state, sender, portal, item_id, fields, user_id))

    def delete(self, state: State, sender: EventSender, portal: Portal, item_id: int, user_id: int) -> None:
        """Remove a record."""
        smart_invoice.delete(state, sender, portal, item_id, user_id)


@dataclass(frozen=True)
class ClassicType:
    """Contacts or companies: the records crm.contact.* / crm.company.* keep (classic_items.py)."""

    entity_type_id: int

    @property
    def kind(self) -> str:
        """`contact` or `company`."""
        return classic_items.KIND_BY_TYPE[self.entity_type_id]

    @property
    def uf_entity(self) -> str:
        """CRM_CONTACT or CRM_COMPANY."""
        return classic.UF_ENTITY[self.kind]

    def names(self, portal: Portal) -> FieldNames:
        """Field names of this type on this portal."""
        ufs = [uf["FIELD_NAME"] for uf in portal.userfields.get(self.uf_entity, [])]
        return FieldNames(classic_items.standard(self.kind), ufs)

    def rows(self, portal: Portal, filter_: dict) -> list[dict]:
        """The records passing a storage-keyed filter, as crm.item shows them."""
        links = classic_items.contacts_by_company(portal) if self.kind == "company" else None
        keep = compile_filter(filter_, _get)
        views = (classic_items.view(portal, self.kind, r, self.entity_type_id, links)
                 for r in id_candidates(portal.entities.get(self.kind, {}), filter_, "id"))
        return [v for v in views if keep(v)]

    def get(self, portal: Portal, item_id: int) -> dict:
        """One record or NOT_FOUND."""
        found = classic_items.record(portal, self.kind, item_id)
        return classic_items.view(portal, self.kind, found, self.entity_type_id)

    def create(self, state: State, sender: EventSender, portal: Portal, fields: dict, user_id: int) -> dict:
        """Add a record from storage-keyed fields."""
        return self.get(portal, classic_items.create(state, sender, portal, self.kind, fields, user_id))

    def update(self, state: State, sender: EventSender, portal: Portal, item_id: int, fields: dict,
               user_id: int) -> dict:
        """Change a record from storage-keyed fields."""
        classic_items.update(state, sender, portal, self.kind, item_id, fields, user_id)
        return self.get(portal, item_id)

    def delete(self, state: State, sender: EventSender, portal: Portal, item_id: int, user_id: int) -> None:
        """Remove a record."""
        classic_items.record(portal, self.kind, item_id)
        classic.delete(state, sender, portal, self.kind, item_id, user_id)


ItemType = SmartInvoiceType | ClassicType
TYPES: dict[int, ItemType] = {31: SmartInvoiceType(), 3: ClassicType(3), 4: ClassicType(4)}


def item_type(params: dict) -> ItemType:
    """The type named by `entityTypeId`: 5 is ENTITY_TYPE_NOT_SUPPORTED, unknown ones NOT_FOUND."""
    raw = params.get("entityTypeId", params.get("ENTITY_TYPE_ID"))
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        raise RestError(400, "NOT_FOUND", "Smart process not found") from None
    if value == 5:
        raise RestError(400, "ENTITY_TYPE_NOT_SUPPORTED", "Entity type 5 is not supported")
    if value in _UNMODELLED:
        raise RestError(501, "SANDBOX_NOT_IMPLEMENTED", f"crm.item for entityTypeId {value} is not modelled")
    if value not in TYPES:
        raise RestError(400, "NOT_FOUND", "Smart process not found")
    return TYPES[value]
