"""Typed QuickBooks errors, translated in one place from python-quickbooks' code-range exceptions.

The library files 5010 and 6240 under the plain QuickbooksException and 429 bodies under
ValidationException or a code-10000 catch-all (reference §8), so callers key on our types.
"""
from __future__ import annotations

from quickbooks import exceptions as qb_exc


class QuickBooksError(Exception):
    """Base of every QuickBooks failure the client raises."""

    def __init__(self, message: str, *, code: str | None = None, detail: str = "", status: int | None = None):
        super().__init__(message)
        self.code, self.detail, self.status = code, detail, status


class NotFound(QuickBooksError):
    """Fault 610: the object does not exist (or was deleted)."""


class DuplicateName(QuickBooksError):
    """Fault 6240: DisplayName already used by a customer, vendor or employee."""


class StaleObject(QuickBooksError):
    """Fault 5010: the SyncToken is outdated; re-read and retry."""


class ValidationFailed(QuickBooksError):
    """A 2000–4999 or 6000-range validation Fault that will not change on retry."""


class Throttled(QuickBooksError):
    """HTTP 429 / Fault 3001: over the realm's request limit; retry after `retry_after` s."""

    def __init__(self, message: str, *, retry_after: float = 60.0, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Unauthorized(QuickBooksError):
    """HTTP 401: the access token is expired or revoked (refresh, then retry once)."""


class Forbidden(QuickBooksError):
    """HTTP 403: the token is not authorized for this company or scope (gateway AuthorizationFailed 3100,
    reference §6); python-quickbooks would misfile the gateway body as a code-10000 SevereException."""


class AuthorizationRevoked(QuickBooksError):
    """The refresh token was refused (invalid_grant): the user must reconnect."""


class ServiceUnavailable(QuickBooksError):
    """5xx / SystemFault: transient on Intuit's side; retry with backoff."""



def translate(exc: qb_exc.QuickbooksException) -> QuickBooksError:
    """Map a python-quickbooks exception to our typed error by Fault code."""
    code = exc.error_code
    fields = {"code": str(code), "detail": str(exc.detail or "")}
    message = str(exc.message)
    if isinstance(exc, qb_exc.AuthorizationException) and code == 401:
        return Unauthorized("QuickBooks rejected the access token", status=401, **fields)
    by_code = {610: NotFound, 6240: DuplicateName, 5010: StaleObject, 3001: Throttled, 3200: Unauthorized}
    if code in by_code:
        return by_code[code](message, **fields)
    if isinstance(exc, qb_exc.SevereException) or code == 10000:
        return ServiceUnavailable(message, **fields)
    return ValidationFailed(message, **fields)
