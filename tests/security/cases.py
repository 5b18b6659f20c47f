"""The forged-request corpus's record: one request, who sends it, and the outcome the issue demands.

Expected classes (what "accepted" means for each):
- REFUSED: the request must be refused (4xx). Accepted = answered < 400, or any change to the
  world (every table, plus the grants live at Intuit) beyond the case's `may_change`.
- CLAIM: a request carrying a genuine but weak credential (the application token every app user
  holds, issue 8 item 1): any answer < 500, but no effect beyond `may_change`.
- HARMLESS: legitimate or inert (public reads, a duplicate, an ignored event): any answer < 500,
  no change beyond `may_change`.
For every class: no answer >= 500, no secret in any answer or log, the headers of item 8.

Values known only at run time are written `${name}` and filled from the world (tests/security/world.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

REFUSED, CLAIM, HARMLESS = "refused", "claim", "harmless"
ANON = "anon"  # a fresh cookie-less client for every request


@dataclass(frozen=True)
class Case:
    """One request of the corpus."""

    name: str
    method: str
    path: str
    expect: str = REFUSED
    as_: str = ANON  # the cookie jar (World.jars) the request is sent from
    form: tuple[tuple[str, str], ...] = ()
    body: str | bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    item: int | None = None  # the issue 8 item this case is the proof of
    may_change: frozenset[str] = frozenset()
    prepare: str | None = None  # World.prepare step run first (its changes are not the request's)
    group: str | None = None  # cases judged together too (GROUP_BUDGETS)
    raw: bool = False  # send the path byte for byte (no client-side normalisation)
    checks: tuple[str, ...] = field(default=())  # "location_on_app", "not_reflected:<text>"
    # QuickBooks webhooks: the key an `intuit-signature` header is made with (filled, so `${qbo.verifier}` is
    # the genuine one) over `signed_body` (default: the body sent), computed when the case is sent.
    sign_with: str | None = None
    signed_body: str | None = None


def form(**fields: str | None) -> tuple[tuple[str, str], ...]:
    """Form pairs from keywords (`None` drops a field)."""
    return tuple((k, v) for k, v in fields.items() if v is not None)


def pairs(mapping: dict[str, str | None]) -> tuple[tuple[str, str], ...]:
    """Form pairs from a mapping whose keys are PHP-bracket names (`auth[member_id]`)."""
    return tuple((k, v) for k, v in mapping.items() if v is not None)


def b24_event(name: str, member_id: str, token: str | None, **extra: str | None) -> tuple[tuple[str, str], ...]:
    """A Bitrix24 event POST (reference §3: PHP-bracket form), with extra bracket fields by keyword
    (`data__CLEAN="1"` → `data[CLEAN]=1`)."""
    fields: dict[str, str | None] = {"event": name, "ts": "1735689600", "auth[member_id]": member_id,
                                     "auth[application_token]": token}
    for key, value in extra.items():
        head, *rest = key.split("__")
        fields[head + "".join(f"[{part}]" for part in rest)] = value
    return pairs(fields)


def headers(**values: str) -> tuple[tuple[str, str], ...]:
    return tuple((k.replace("_", "-"), v) for k, v in values.items())


JSON = headers(Accept="application/json")
