"""QuickBooks Fault envelopes: the bodies the real API answers with (see fixtures/quickbooks/faults)."""
from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any

from .timefmt import response_time

STALE_USER = "Sandbox User"


class ApiFault(Exception):
    """An error the /v3 API answers with a Fault envelope."""

    def __init__(self, status: int, code: str, message: str, detail: str,
                 element: str | None = None, fault_type: str = "ValidationFault") -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.status, self.code, self.message = status, code, message
        self.detail, self.element, self.fault_type = detail, element, fault_type

    def body(self, now: datetime) -> dict[str, Any]:
        """The JSON body; `element` only where the real fault carries one (6240/4001 have none)."""
        error: dict[str, Any] = {"Message": self.message, "Detail": self.detail, "code": self.code}
        if self.element is not None:
            error["element"] = self.element
        return {"Fault": {"Error": [error], "type": self.fault_type}, "time": response_time(now)}


def not_found() -> ApiFault:
    """610, text as in the real batch fixture."""
    return ApiFault(400, "610", "Object Not Found",
                    "Object Not Found : Something you're trying to use has been made inactive. "
                    "Check the fields with accounts, customers, items, vendors or employees.", element="")


def stale_object() -> ApiFault:
    """5010 on an outdated SyncToken (real batch fixture / python-quickbooks #127)."""
    return ApiFault(400, "5010", "Stale Object Error",
                    f"Stale Object Error : You and {STALE_USER} were working on this at the same time. "
                    f"{STALE_USER} finished before you did, so your work was not saved.", element="")


def duplicate_name() -> ApiFault:
    """6240 exactly as the real fixture (no `element`)."""
    return ApiFault(400, "6240", "Duplicate Name Exists Error", "The name supplied already exists. : null")


def parent_required() -> ApiFault:
    """6150 when Job and ParentRef do not go together: the real answer captured in
    intuit/QuickBooks-V3-PHP-SDK#71 (also quoted in #265 and routablehq/python-quickbooks#139)."""
    return ApiFault(400, "6150", "ParentRef Required Error",
                    "ParentRef is either required or not if Job is true or false.", element="Job")


def required(param: str) -> ApiFault:
    """2020 Required param missing."""
    return ApiFault(400, "2020", "Required param missing, need to supply the required value for the API",
                    f"Required parameter {param} is missing in the request", element=param)


def unsupported_property(entity: str, detail: str) -> ApiFault:
    """2010, the Jackson-style text of the real fixture."""
    return ApiFault(400, "2010", "Request has invalid or unsupported property",
                    f"Property Name:{detail} (class com.intuit.schema.finance.v3.{entity})\n"
                    " specified is unsupported or invalid")


def unrecognized_field(entity: str, field: str) -> ApiFault:
    """2010 for a property the entity does not have."""
    return unsupported_property(entity, f'Unrecognized field "{field}"')


def invalid_id(value: Any, element: str = "Id") -> ApiFault:
    """2030 as the real fixture."""
    return ApiFault(400, "2030", "Invalid ID", f"Id should be a valid number. Supplied value:{value}",
                    element=element)


def invalid_reference(kind: str, ref_id: Any) -> ApiFault:
    """2500 Invalid Reference Id."""
    return ApiFault(400, "2500", "Invalid Reference Id",
                    f"Invalid Reference Id : {kind} element id {ref_id} not found", element="")


def business_validation(detail: str) -> ApiFault:
    """6000 as in the real AttachableResponse fixture."""
    return ApiFault(400, "6000", "A business validation error has occurred while processing your request",
                    f"Business Validation Error: {detail}", element="")


def string_length(element: str, maximum: int, supplied: int) -> ApiFault:
    """2050 for over-long strings."""
    return ApiFault(400, "2050", "String length is either shorter or longer than supported by specification",
                    f"String length specified does not match the supported length. Min:1 Max:{maximum} "
                    f"supplied length:{supplied}", element=element)


def unsupported_operation(relative: str, full: str) -> ApiFault:
    """500 Unsupported Operation (answered with HTTP 400, like the real fixture)."""
    return ApiFault(400, "500", "Unsupported Operation",
                    f"Operation Could not find resource for relative : {relative} of full path: {full} "
                    "is not supported.")


def system_fault(status: int = 500) -> ApiFault:
    """10000 SystemFault (injected errors, unexpected exceptions)."""
    return ApiFault(status, "10000", "An application error has occurred while processing your request",
                    "System Failure Error: An unexpected error occurred while accessing or saving your data. "
                    "Please wait a few minutes and try again. "
                    "If the problem persists, contact customer support.",
                    fault_type="SystemFault")


def batch_item_failure() -> ApiFault:
    """An item of a batch that failed for no reason the client caused, as one real batch item answered.

    ruckus/quickbooks-ruby#344 (2016) quotes a real BatchItemResponse Fault for an internal failure: code
    6000, Message "A business validation error has occurred while processing your request", element "", Detail
    "Business Validation Error: An unexpected error occurred while accessing or saving your data. Please wait
    a few minutes and try again.  If the problem persists, contact customer support." (two spaces, as quoted).
    """
    return business_validation("An unexpected error occurred while accessing or saving your data. "
                               "Please wait a few minutes and try again.  "
                               "If the problem persists, contact customer support.")


# The real 429 (raw bodies in intuit/QuickBooks-V3-PHP-SDK#54 and ruckus/quickbooks-ruby#348's fixture):
# Fault type SERVICE, code 3001, this Message, and this Detail with its two spaces.
THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
THROTTLE_DETAIL = "The request limit was reached.  Try again later"


def throttled() -> ApiFault:
    """429 as a JSON Fault: the captured XML Fault's fields, JSON-shaped (the `fault` reading)."""
    return ApiFault(429, "3001", THROTTLE_MESSAGE, THROTTLE_DETAIL, fault_type="SERVICE")


def throttled_xml(now: datetime) -> tuple[bytes, dict[str, str]]:
    """429 as the captured XML, whatever the Accept header asked for (the `xml` reading).

    python-quickbooks#43 (maintainer: "Requesting json, receiving XML error") shows the throttle
    answer in XML to a JSON client; the layout is the PHP SDK #54 capture, `time` aside.
    """
    body = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<IntuitResponse time="{response_time(now)}" xmlns="http://schema.intuit.com/finance/v3">\n'
            '    <Fault type="SERVICE">\n'
            '        <Error code="3001">\n'
            f'            <Message>{THROTTLE_MESSAGE}</Message>\n'
            f'            <Detail>{THROTTLE_DETAIL}</Detail>\n'
            '        </Error>\n'
            '    </Fault>\n'
            '</IntuitResponse>\n')
    return body.encode(), {"Content-Type": "application/xml", "Intuit-Tid": intuit_tid()}


def gateway_401(token: str | None, reason: str, now: datetime) -> tuple[bytes, dict[str, str]]:
    """The gateway's 401 body and headers, shaped like the real fixture (lowercase `fault`, epoch-ms time)."""
    shown = (token or "")[:50]
    body = gateway_body("message=AuthenticationFailed; errorCode=003200; statusCode=401",
                        f"{reason}: {shown}" if shown else reason, "3200", "AUTHENTICATION", now)
    headers = {"Content-Type": "application/json", "Intuit-Tid": intuit_tid(),
               "WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'}
    return body, headers


def gateway_403(now: datetime) -> tuple[bytes, dict[str, str]]:
    """The gateway's 403 for a token the company has not authorized (reference §6; intuit/oauth-jsclient#2 raw)."""
    body = gateway_body("message=AuthorizationFailed; errorCode=003100; statusCode=403", None, "3100", "SERVICE", now)
    return body, {"Content-Type": "application/json", "Intuit-Tid": intuit_tid()}


def gateway_429(now: datetime) -> tuple[bytes, dict[str, str]]:
    """The `gateway` reading: the gateway's lowercase `fault` (its 401 shape) with the 429 fields."""
    body = gateway_body(THROTTLE_MESSAGE, THROTTLE_DETAIL, "3001", "SERVICE", now)
    return body, {"Content-Type": "application/json", "Intuit-Tid": intuit_tid()}


def gateway_body(message: str, detail: str | None, code: str, fault_type: str, now: datetime) -> bytes:
    """A gateway error body (python-quickbooks #118/#250 raw): lowercase keys, epoch-ms `time`."""
    body = {"warnings": None, "intuitObject": None,
            "fault": {"error": [{"message": message, "detail": detail, "code": code, "element": None}],
                      "type": fault_type},
            "report": None, "queryResponse": None, "batchItemResponse": [], "attachableResponse": [],
            "syncErrorResponse": None, "requestId": None, "time": int(now.timestamp() * 1000),
            "status": None, "cdcresponse": []}
    return json.dumps(body, separators=(",", ":")).encode()


def intuit_tid() -> str:
    """A transaction id like the `intuit_tid` header QuickBooks returns."""
    return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"
