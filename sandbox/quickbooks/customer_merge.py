"""Merging two customers, as a person does it in QuickBooks Online (Intuit's API has no merge call).

The UI merges by renaming one customer to the other's name: the one renamed disappears and its
transactions become the other's (QuickBooks help "Merge duplicate customers"). What the API then shows:
- a Merge webhook for the survivor carrying the merged-away id (legacy `deletedId`, Intuit .NET SDK
  Entity.cs; CloudEvents `data.deletedid`, WHD "Understanding the data object"; reference §1.1/§1.2);
- the moved invoices and payments read with the survivor's CustomerRef, each with a new SyncToken and
  LastUpdatedTime (CDC reports them as changed);
- the merged-away customer is gone: a read is 610. UNCERTAIN whether CDC then reports it as a
  `status: Deleted` tombstone or as the record made inactive; no capture shows either. We report the
  tombstone: a client that handles it handles a deleted record, and the Merge event names the id anyway.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from .customer_tree import ancestors, parent_of, refresh_balances
from .multicurrency import currency_of
from .realm import Realm
from .timefmt import meta_time
from .writes import Change, stamp


class MergeRefused(ValueError):
    """Why two customers cannot be merged (the control API answers 400 with it)."""


def merge_customers(realm: Realm, from_id: str, into_id: str, now: datetime) -> tuple[dict[str, Any], list[Change]]:
    """Move `from_id`'s invoices and payments to `into_id`, remove `from_id`; the survivor and the changes."""
    merged, survivor = _pair(realm, from_id, into_id)
    changes = []
    for entity in ("Invoice", "Payment"):
        for record in realm.all(entity):
            if str(record.get("CustomerRef", {}).get("value")) == merged["Id"]:
                record["CustomerRef"] = {"value": survivor["Id"], "name": survivor.get("DisplayName", "")}
                stamp(record, now)
                changes.append(Change(entity, record["Id"], "Update", record["MetaData"]["LastUpdatedTime"]))
    realm.bury("Customer", merged["Id"], meta_time(now))
    refresh_balances(realm, [survivor["Id"]], now)
    stamp(survivor, now)
    merge = Change("Customer", survivor["Id"], "Merge", survivor["MetaData"]["LastUpdatedTime"],
                   deleted_id=merged["Id"])
    return survivor, [merge, *changes]


def _pair(realm: Realm, from_id: str, into_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The live customers to merge, or MergeRefused with the reason QuickBooks' screen gives."""
    merged, survivor = realm.get("Customer", from_id), realm.get("Customer", into_id)
    if merged is None or survivor is None:
        raise MergeRefused(f"no customer {from_id if merged is None else into_id} in realm {realm.realm_id}")
    if merged["Id"] == survivor["Id"]:
        raise MergeRefused("a customer cannot be merged into itself")
    if merged["Id"] in {ancestor["Id"] for ancestor in ancestors(realm, survivor)}:
        raise MergeRefused(f"customer {merged['Id']} cannot be merged into its own sub-customer {survivor['Id']}")
    # UNCERTAIN (help pages only): QuickBooks refuses to merge a parent with sub-customers until they are
    # moved; taken as given here rather than guessing where its sub-customers would go.
    if any(parent_of(realm, other) is merged for other in realm.records["Customer"].values()):
        raise MergeRefused(f"customer {merged['Id']} has sub-customers; move them before merging it")
    # Multicurrency: "You can't merge customers or vendors that use different currencies" (QuickBooks help).
    if currency_of(realm, merged) != currency_of(realm, survivor):
        raise MergeRefused(f"customers {merged['Id']} ({currency_of(realm, merged)}) and {survivor['Id']} "
                           f"({currency_of(realm, survivor)}) use different currencies")
    return merged, survivor
