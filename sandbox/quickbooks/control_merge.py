"""Control API: merge two customers, the QuickBooks Online screen action the Accounting API does not offer."""
from __future__ import annotations

from flask import Response, jsonify

from .context import sandbox
from .control import ControlError, control, json_body
from .customer_merge import MergeRefused, merge_customers


@control.post("/realms/<realm_id>/customers/merge")
def merge(realm_id: str) -> Response:
    """{"from": id, "into": id}: `from`'s invoices and payments become `into`'s, `from` is removed, the
    webhook senders get a Merge for `into` (deletedId `from`) and an Update per moved transaction."""
    body = json_body()
    ids = [body.get(name) for name in ("from", "into")]
    if not all(isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip()
               for value in ids):
        raise ControlError("from and into must be customer ids")
    box = sandbox()
    with box.state.lock:
        realm = box.state.realms.get(realm_id)
        if realm is None:
            raise ControlError(f"unknown realm {realm_id}")
        now = box.state.now()
        try:
            survivor, changes = merge_customers(realm, str(ids[0]).strip(), str(ids[1]).strip(), now)
        except MergeRefused as error:
            raise ControlError(str(error)) from None
    box.hooks.publish(realm_id, changes, at=now)
    moved = {entity: [c.entity_id for c in changes if c.entity == entity] for entity in ("Invoice", "Payment")}
    return jsonify({"Customer": survivor, "deleted_id": str(ids[0]).strip(), "moved": moved})
