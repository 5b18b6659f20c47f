"""Why an export attempt failed, as the sentence the app page's sync log shows (received_events.last_error).

The admin reads it, so it names what to do, never a secret: a QuickBooks validation Fault keeps its own
words (they name the field and value the CRM record must change), everything else is described by its
kind. An unknown exception's text is not shown (it may hold a URL with a token or a traceback line): the
app's log names its type.
"""
from __future__ import annotations

import re

import requests

from clients import bitrix24_errors as b24
from clients import quickbooks_errors as qbo
from clients.coordination import LockTimeout
from mappers.errors import MappingError
from mappers.reasons import reason
from store.tokens import ConnectionMissing, PortalMissing
from workers import reasons as R

NAME_FAULTS = {"6240", "2170"}  # duplicate name; a colon, tab or newline in a name (reference quickbooks-online.md §8)
SECRET_LIKE = re.compile(r"https?://\S+|\b[A-Za-z0-9_\-.]{32,}\b")  # a link or a token-like run: never shown
AGAIN = " " + R.AGAIN


class NoRecord(LookupError):
    """Bitrix24's batch answered neither the record nor an error for it: passing, tried again."""


def describe(error: BaseException | None) -> str:
    """One plain sentence (or two) about the failed attempt."""
    if error is None:
        return R.EXPORT_UNKNOWN + AGAIN
    if isinstance(error, qbo.QuickBooksError):
        return _quickbooks(error)
    if isinstance(error, b24.Bitrix24Error):
        return _bitrix24(error)
    if isinstance(error, MappingError):
        return plain(str(error))
    if isinstance(error, NoRecord):
        return plain(str(error)) + AGAIN
    if isinstance(error, (requests.RequestException, ConnectionError, TimeoutError)):
        return R.NETWORK_FAILED + AGAIN
    if isinstance(error, LockTimeout):
        return R.EXPORT_LOCKED + AGAIN
    if isinstance(error, (ConnectionMissing, PortalMissing)):
        return R.NO_TOKENS
    return reason(R.EXPORT_UNEXPECTED, type=type(error).__name__) + AGAIN


def _quickbooks(error: qbo.QuickBooksError) -> str:
    if isinstance(error, (qbo.Unauthorized, qbo.Forbidden, qbo.AuthorizationRevoked)):
        return R.QBO_REFUSED_CONNECTION
    if isinstance(error, qbo.Throttled):
        return R.QBO_THROTTLED + AGAIN
    if isinstance(error, qbo.ServiceUnavailable):
        return R.QBO_UNAVAILABLE + AGAIN
    said = _fault_words(error)
    if error.code in NAME_FAULTS:
        return plain(reason(R.QBO_REFUSED_NAME, said=said))
    return plain(reason(R.QBO_REFUSED_CUSTOMER, said=said))


def _fault_words(error: qbo.QuickBooksError) -> str:
    """The Fault's Detail (it names the field and value), else its Message; "Business Validation Error:" cut."""
    text = (error.detail or str(error)).strip()
    text = re.sub(r"^Business Validation Error:\s*", "", text)
    return text if text.endswith(".") else text + "."


def _bitrix24(error: b24.Bitrix24Error) -> str:
    if isinstance(error, (b24.ExpiredToken, b24.InvalidToken, b24.NoAuthFound, b24.InvalidGrant,
                          b24.InvalidClient, b24.WrongAuthType, b24.PortalDeleted)):
        return R.B24_REFUSED_TOKENS
    if isinstance(error, (b24.AccessDenied, b24.InsufficientScope)):
        return R.B24_DENIED_RECORD
    if isinstance(error, (b24.QueryLimitExceeded, b24.OverloadLimit, b24.OperationTimeLimit, b24.ServerError)):
        return reason(R.B24_BUSY, code=error.code or error.status) + AGAIN
    return plain(reason(R.B24_REFUSED_READ, code=error.code or error.status))


def plain(text: str) -> str:
    """The text without links or token-like runs, on one line."""
    return " ".join(SECRET_LIKE.sub("(hidden)", text).split())
