"""The one error a mapper raises: a record that cannot be written, with a reason a person can act on."""
from __future__ import annotations


class MappingError(ValueError):
    """A QuickBooks record Bitrix24 cannot hold as it is; `reason` says what, why and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
