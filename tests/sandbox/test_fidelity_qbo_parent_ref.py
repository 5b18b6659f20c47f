"""Fidelity: a sub-customer's Job flag and ParentRef go together, and ParentRef names an existing customer.

Sources: CUSTREF (Intuit's Customer reference, reference §4): ParentRef is "Required for the create operation
if this object is a sub-customer or Job"; Job "If true, this is a Job or sub-customer. If false or null, this
is a top level customer". The real refusal of Job true without ParentRef is a captured response in
intuit/QuickBooks-V3-PHP-SDK#71 (`<Error code="6150" element="Job"><Message>ParentRef Required Error</Message>
<Detail>ParentRef is either required or not if Job is true or false.</Detail>`), the same words answer a
ParentRef sent with Job false in routablehq/python-quickbooks#139 (the library sends `Job: false` by default)
and in QuickBooks-V3-PHP-SDK#265. An unknown ParentRef: reference §6 lists 2500 Invalid Reference Id, whose
real Detail for a customer reference is "Invalid Reference Id : Names element id <id> not found" (quoted in
public integrations, e.g. a Laravel QuickBooks client matching on 'Names element id').
"""
from __future__ import annotations

from typing import Any

import pytest
from quickbooks import QuickBooks, exceptions
from quickbooks.objects.base import Ref
from quickbooks.objects.customer import Customer

from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault, connected_api

PARENT_REQUIRED = "ParentRef is either required or not if Job is true or false."


@pytest.fixture
def api(qbo: Sandbox) -> Api:
    api, _ = connected_api(qbo)
    return api


def _customers(api: Api) -> int:
    """How many customers the company holds (a refused write adds none)."""
    query = "SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)"
    return api.call("GET", "query", query=query).json()["QueryResponse"]["totalCount"]


def _parent_required(response: Any) -> None:
    """The 6150 of the PHP SDK capture, element Job."""
    error = assert_fault(response, 400, "6150")
    assert (error["Message"], error["Detail"], error["element"]) == ("ParentRef Required Error",
                                                                     PARENT_REQUIRED, "Job")


@pytest.mark.parametrize("parent_ref", [None, {"value": None}, {"value": ""}, {}],
                         ids=["absent", "null-value", "empty-value", "empty-object"])
def test_a_job_without_a_parent_is_refused_on_create(api: Api, parent_ref: dict | None) -> None:
    before = _customers(api)
    body: dict[str, Any] = {"DisplayName": "Orphan Job", "Job": True}
    if parent_ref is not None:
        body["ParentRef"] = parent_ref
    _parent_required(api.call("POST", "customer", body=body))
    assert _customers(api) == before


@pytest.mark.parametrize("job", [False, None], ids=["job-false", "job-absent"])
def test_a_parent_ref_without_the_job_flag_is_refused(api: Api, job: bool | None) -> None:
    """python-quickbooks#139: ParentRef set, Job left at the library's False → "ParentRef Required Error"."""
    body: dict[str, Any] = {"DisplayName": "Half A Job", "ParentRef": {"value": "1"}}
    if job is not None:
        body["Job"] = job
    _parent_required(api.call("POST", "customer", body=body))


def test_an_unknown_or_malformed_parent_is_refused(api: Api) -> None:
    before = _customers(api)
    body = {"DisplayName": "Orphan", "Job": True, "ParentRef": {"value": "99999"}}
    error = assert_fault(api.call("POST", "customer", body=body), 400, "2500")
    assert error["Detail"] == "Invalid Reference Id : Names element id 99999 not found"
    body["ParentRef"] = {"value": "abc"}
    assert_fault(api.call("POST", "customer", body=body), 400, "2030")
    assert _customers(api) == before


def test_updates_keep_the_same_rules(api: Api) -> None:
    """Sparse and full updates are validated on the merged record, as creates are."""
    top = api.call("GET", "customer/2").json()["Customer"]
    token = top["SyncToken"]
    orphan = {"Id": "2", "SyncToken": token, "sparse": True, "Job": True, "ParentRef": {"value": "99999"}}
    assert_fault(api.call("POST", "customer", body=orphan), 400, "2500")
    _parent_required(api.call("POST", "customer", body={"Id": "2", "SyncToken": token, "sparse": True,
                                                        "Job": True}))
    job = api.call("GET", "customer/8").json()["Customer"]  # sample sub-customer of 7
    full = {k: v for k, v in job.items() if k != "ParentRef"}
    _parent_required(api.call("POST", "customer", body=full))
    unflagged = {"Id": "8", "SyncToken": job["SyncToken"], "sparse": True, "Job": False}
    _parent_required(api.call("POST", "customer", body=unflagged))
    assert api.call("GET", "customer/8").json()["Customer"] == job
    top_level = {k: v for k, v in job.items() if k not in ("ParentRef", "Level", "FullyQualifiedName")}
    moved = api.call("POST", "customer", body={**top_level, "Job": False}).json()["Customer"]
    assert (moved["Job"], "ParentRef" in moved, "Level" in moved, moved["FullyQualifiedName"]) == (
        False, False, False, job["DisplayName"])


def test_a_batch_item_is_refused_alone(api: Api) -> None:
    """Batch items run through the same writers (reference §6: per-item Faults in BatchItemResponse)."""
    items = [{"bId": "orphan", "operation": "create",
              "Customer": {"DisplayName": "Batch Orphan", "Job": True, "ParentRef": {"value": "99999"}}},
             {"bId": "flagless", "operation": "create",
              "Customer": {"DisplayName": "Batch Flagless", "Job": True}},
             {"bId": "fine", "operation": "create",
              "Customer": {"DisplayName": "Batch Child", "Job": True, "ParentRef": {"value": "1"}}}]
    response = api.call("POST", "batch", body={"BatchItemRequest": items})
    assert response.status_code == 200, response.text
    answers = {item["bId"]: item for item in response.json()["BatchItemResponse"]}
    assert answers["orphan"]["Fault"]["Error"][0]["code"] == "2500"
    assert answers["flagless"]["Fault"]["Error"][0]["code"] == "6150"
    assert answers["fine"]["Customer"]["FullyQualifiedName"] == "Amy's Bird Sanctuary:Batch Child"


def test_python_quickbooks_raises_for_a_parent_without_the_job_flag(qb: QuickBooks) -> None:
    """The python-quickbooks#139 call: ParentRef = parent.to_ref(), Job left False → an exception naming
    "ParentRef Required Error" (codes 6000+ are QuickbooksException, client.py handle_exceptions)."""
    child = Customer()
    child.DisplayName = "Project Child"
    child.ParentRef = Customer.get(1, qb=qb).to_ref()
    with pytest.raises(exceptions.QuickbooksException) as raised:
        child.save(qb=qb)
    assert raised.value.error_code == 6150 and "ParentRef Required Error" in raised.value.message
    child.Job = True
    saved = child.save(qb=qb)
    assert (saved.Level, saved.FullyQualifiedName) == (1, "Amy's Bird Sanctuary:Project Child")
    assert isinstance(saved.ParentRef, Ref) and saved.ParentRef.value == "1"
