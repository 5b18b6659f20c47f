"""Which writer serves an entity write: one table for the single endpoints and for batch items."""
from __future__ import annotations

from typing import Any, Callable

from .customers import create_customer, update_customer
from .invoices import create_invoice, delete_invoice, update_invoice, void_invoice
from .payment_removal import delete_payment, void_payment
from .payment_updates import update_payment
from .payments import create_payment
from .writes import Change

Writer = Callable[..., tuple[dict[str, Any], list[Change]]]

# (create, update) per entity; None where QuickBooks has the entity but the sandbox does not simulate it.
UPSERTS: dict[str, tuple[Writer, Writer | None]] = {
    "Customer": (create_customer, update_customer),
    "Invoice": (create_invoice, update_invoice),
    "Payment": (create_payment, update_payment),
}
# Customers cannot be deleted, only deactivated (reference §1.5; python-quickbooks #289).
REMOVALS: dict[tuple[str, str], Writer] = {
    ("Invoice", "delete"): delete_invoice,
    ("Invoice", "void"): void_invoice,
    ("Payment", "delete"): delete_payment,
}
# Voids spelled as a sparse update with include=void (optionsData "void" in a batch item): the Payment
# reference "Use a sparse update operation with include=void" (quoted in Wish-Org/QuickBooksSharp#8),
# python-quickbooks VoidMixin.get_void_params, Intuit blog 2023-07-19 "Batch without a Scratch".
VOIDS_BY_UPDATE: dict[str, Writer] = {"Invoice": void_invoice, "Payment": void_payment}


class UnsupportedOperation(Exception):
    """The entity has no such operation; the caller words the 500 Unsupported Operation fault."""


def writer_for(entity: str, operation: str | None, body: dict[str, Any],
               include: str | None = None) -> Writer:
    """The writer for `operation` on `entity` (create and update are one POST, told apart by Id)."""
    operation = (operation or "").strip().lower()
    if (include or "").strip().lower() == "void":
        if operation in ("", "update") and entity in VOIDS_BY_UPDATE:
            return VOIDS_BY_UPDATE[entity]
        raise UnsupportedOperation(entity)
    if operation in ("", "create", "update") and entity in UPSERTS:
        create, update = UPSERTS[entity]
        writer = update if body.get("Id") not in (None, "") else create
        if writer is None:
            raise UnsupportedOperation(entity)
        return writer
    # `operation=void` is the Invoice's own form; Payment refuses it (python-quickbooks #304: "Invoice is
    # the only one that uses the operation=void param"; node-quickbooks #150 for batch items).
    removal = REMOVALS.get((entity, operation))
    if removal is None:
        raise UnsupportedOperation(entity)
    return removal
