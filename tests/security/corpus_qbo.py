"""QuickBooks webhooks (`POST /webhooks/quickbooks`, reference quickbooks-online.md §1): unsigned, forged and
replayed-with-a-change notifications, oversized and malformed bodies; genuine ones that must change nothing
(ignored entities, unknown or uninstalled realms, a redelivery); and last, one genuine change, recorded."""
from __future__ import annotations

import json

from tests.security.cases import HARMLESS, REFUSED, Case, headers

HOOK = "/webhooks/quickbooks"
JSON_BODY = headers(Content_Type="application/json")
CLOUD_BODY = headers(Content_Type="application/cloudevents+json")
VERIFIER = "${qbo.verifier}"
RECORDED = frozenset({"received_events"})


def legacy(realm: str, name: str = "Customer", entity_id: str = "58", operation: str = "Update") -> str:
    return json.dumps({"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": [
        {"name": name, "id": entity_id, "operation": operation, "lastUpdated": "2026-11-30T10:00:00.000Z"}]}}]})


def cloudevent(realm: str, event_type: str = "qbo.invoice.voided.v1", event_id: str = "corpus-0001",
               entity_id: str = "130") -> str:
    return json.dumps([{"specversion": "1.0", "id": event_id, "source": "intuit.corpus", "type": event_type,
                        "datacontenttype": "application/json", "time": "2026-11-30T10:00:00.179851517Z",
                        "intuitentityid": entity_id, "intuitaccountid": realm, "data": {}}])


def _hook(name: str, body: str | bytes, expect: str = REFUSED, content: tuple = JSON_BODY, **options) -> Case:
    return Case(f"qbo webhook {name}", "POST", HOOK, expect, body=body, headers=content, **options)


def forged() -> list[Case]:
    """No genuine signature over these exact bytes: 401, nothing recorded or queued."""
    genuine = legacy("${R1}")
    cloud = cloudevent("${R1}")
    return [
        _hook("unsigned", genuine),
        _hook("signed with another app's verifier", genuine, sign_with="another-apps-verifier-token"),
        _hook("signed with the OAuth client secret", genuine, sign_with="${qbo.client_secret}"),
        _hook("signed with an empty key", genuine, sign_with=""),
        Case("qbo webhook empty signature header", "POST", HOOK, body=genuine,
             headers=JSON_BODY + headers(intuit_signature="")),
        Case("qbo webhook signature 5000 characters", "POST", HOOK, body=genuine,
             headers=JSON_BODY + headers(intuit_signature="A" * 5000)),
        Case("qbo webhook signature not ASCII", "POST", HOOK, body=genuine,
             headers=JSON_BODY + headers(intuit_signature="\u00e9" * 44)),
        _hook("replay, body changed by one byte", legacy("${R1}", entity_id="59"), sign_with=VERIFIER,
              signed_body=genuine),
        _hook("replay, operation changed", legacy("${R1}", operation="Delete"), sign_with=VERIFIER,
              signed_body=genuine),
        _hook("replay to another realm", legacy("${R2}"), sign_with=VERIFIER, signed_body=genuine),
        _hook("cloudevents replay with another id", cloudevent("${R1}", event_id="corpus-0002"), content=CLOUD_BODY,
              sign_with=VERIFIER, signed_body=cloud),
        _hook("cloudevents replay, realm changed", cloudevent("${R2}"), content=CLOUD_BODY, sign_with=VERIFIER,
              signed_body=cloud),
        _hook("signature of the empty body", genuine, sign_with=VERIFIER, signed_body=""),
        _hook("genuine signature, trailing space in body", genuine + " ", sign_with=VERIFIER, signed_body=genuine),
    ]


def refused_shapes() -> list[Case]:
    """Genuinely signed, yet too large (413), of another type (415) or not QuickBooks' shape (400)."""
    big = b"[" + b" " * (2 * 1024 * 1024 + 16) + b"]"
    shapes = [("not JSON", "{eventNotifications: ["), ("a JSON scalar", "42"), ("no eventNotifications", "{}"),
              ("realmId with NUL", legacy("${R1}\\u0000")), ("realmId not digits", legacy("R1; DROP TABLE")),
              ("entity id 40 digits", legacy("${R1}", entity_id="9" * 40)),
              ("entity id with NUL", legacy("${R1}", entity_id="5\\u0000")),
              ("entity name 5000 letters", legacy("${R1}", name="C" * 5000)),
              ("cloudevent id 300 characters", cloudevent("${R1}", event_id="i" * 300)),
              ("cloudevent array of numbers", "[1, 2, 3]"), ("nested 50000 deep", "[" * 50000 + "]" * 50000)]
    return [
        _hook("over 2 MB, signed", big, sign_with=VERIFIER),
        _hook("over 2 MB, unsigned", big),
        _hook("signed, text/plain", legacy("${R1}"), content=headers(Content_Type="text/plain"), sign_with=VERIFIER),
        _hook("signed, form encoded", "eventNotifications=1",
              content=headers(Content_Type="application/x-www-form-urlencoded"), sign_with=VERIFIER),
        _hook("signed, XML", "<eventNotifications/>", content=headers(Content_Type="application/xml"), sign_with=VERIFIER),
    ] + [_hook(f"signed, {name}", body, sign_with=VERIFIER) for name, body in shapes] + [
        Case("qbo webhook GET", "GET", HOOK), Case("qbo webhook PUT", "PUT", HOOK, body=legacy("${R1}")),
    ]


def inert() -> list[Case]:
    """Genuine notifications that must change nothing: 200 (Intuit would re-send anything else)."""
    return [
        _hook("ignored entity", legacy("${R1}", name="Vendor", operation="Create"), HARMLESS, sign_with=VERIFIER),
        _hook("ignored cloudevent type", cloudevent("${R1}", "qbo.estimate.voided.v1"), HARMLESS, CLOUD_BODY,
              sign_with=VERIFIER),
        _hook("unknown realm", legacy("999999999"), HARMLESS, sign_with=VERIFIER),
        _hook("realm of an uninstalled portal", legacy("${R4}"), HARMLESS, sign_with=VERIFIER),
        _hook("realm consented but never connected", cloudevent("${R3}"), HARMLESS, CLOUD_BODY, sign_with=VERIFIER),
        _hook("type of another form", cloudevent("${R1}", "com.example.created"), HARMLESS, CLOUD_BODY,
              sign_with=VERIFIER),
    ]


def genuine_changes() -> list[Case]:
    """Last of the corpus (the pull it queues runs in the background): recorded once, then a redelivery."""
    change = cloudevent("${R1}", "qbo.customer.updated.v1", "corpus-genuine-0001", "58")
    return [_hook("genuine change", change, HARMLESS, CLOUD_BODY, sign_with=VERIFIER, may_change=RECORDED),
            _hook("genuine change redelivered", change, HARMLESS, CLOUD_BODY, sign_with=VERIFIER)]


def qbo_webhook_cases() -> list[Case]:
    return forged() + refused_shapes() + inert()
