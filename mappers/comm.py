"""One value of a Bitrix24 multi-field (an email, a phone, a web address)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Comm:
    """A multi-field value and its VALUE_TYPE: WORK, MOBILE, FAX, HOME, OTHER."""

    value: str
    value_type: str
