"""The control API's write log: every CRM write (batch commands too) with its millisecond time."""
from __future__ import annotations

import time

from sandbox_b24.conftest import Portal, ok


def test_each_write_is_logged_with_its_record_and_time_and_reads_are_not(portal: Portal) -> None:
    start = time.time()
    contact_id = ok(portal.call("crm.contact.add", {"fields": {"NAME": "Ann"}}))["result"]
    item = ok(portal.call("crm.item.add", {"entityTypeId": 31, "fields": {"title": "Inv 1"}}))["result"]["item"]
    ok(portal.call("crm.contact.list", {"select": ["ID"]}))
    ok(portal.call("batch", {"cmd": {"u": f"crm.contact.update?id={contact_id}&fields[NAME]=Bo",
                                     "g": f"crm.contact.get?id={contact_id}"}}))
    refused = portal.call("crm.contact.update", {"id": 999999, "fields": {"NAME": "x"}})
    assert refused.status_code == 400
    writes = portal.control_get("writes")
    assert [(w["method"], w["id"], w["entity_type_id"]) for w in writes] == [
        ("crm.contact.add", int(contact_id), None), ("crm.item.add", item["id"], 31),
        ("crm.contact.update", int(contact_id), None)]
    times = [w["at"] for w in writes]
    assert start <= times[0] <= times[1] <= times[2] <= time.time()
    assert any(t % 1 for t in times)  # sub-second, unlike DATE_MODIFY
    assert portal.control_get(f"writes?since={writes[1]['seq']}") == writes[2:]
