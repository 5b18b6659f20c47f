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
from store.tokens import ConnectionMissing, PortalMissing

NAME_FAULTS = {"6240", "2170"}  # duplicate name; a colon, tab or newline in a name (reference quickbooks-online.md §8)
SECRET_LIKE = re.compile(r"https?://\S+|\b[A-Za-z0-9_\-.]{32,}\b")  # a link or a token-like run: never shown
AGAIN = " It is tried again automatically; Retry tries it now."


class NoRecord(LookupError):
    """Bitrix24's batch answered neither the record nor an error for it: passing, tried again."""


def describe(error: BaseException | None) -> str:
    """One plain sentence (or two) about the failed attempt."""
    if error is None:
        return "The export failed for an unknown reason." + AGAIN
    if isinstance(error, qbo.QuickBooksError):
        return _quickbooks(error)
    if isinstance(error, b24.Bitrix24Error):
        return _bitrix24(error)
    if isinstance(error, MappingError):
        return plain(str(error))
    if isinstance(error, NoRecord):
        return plain(str(error)) + AGAIN
    if isinstance(error, (requests.RequestException, ConnectionError, TimeoutError)):
        return "A network request failed (the connection broke or timed out)." + AGAIN
    if isinstance(error, LockTimeout):
        return "Another export of this record was still running." + AGAIN
    if isinstance(error, (ConnectionMissing, PortalMissing)):
        return "The app holds no tokens for this portal or its QuickBooks company; open the app and log in again."
    return f"An unexpected error ({type(error).__name__}) stopped the export; the app's log has the details." + AGAIN


def _quickbooks(error: qbo.QuickBooksError) -> str:
    if isinstance(error, (qbo.Unauthorized, qbo.Forbidden, qbo.AuthorizationRevoked)):
        return "QuickBooks refused the app's connection; log in with QuickBooks again on this page."
    if isinstance(error, qbo.Throttled):
        return "QuickBooks asked the app to slow down (too many requests)." + AGAIN
    if isinstance(error, qbo.ServiceUnavailable):
        return "QuickBooks did not answer (a temporary fault on its side)." + AGAIN
    said = _fault_words(error)
    if error.code in NAME_FAULTS:
        return plain(f"QuickBooks refused the name: {said}")
    return plain(f"QuickBooks refused the customer: {said}")


def _fault_words(error: qbo.QuickBooksError) -> str:
    """The Fault's Detail (it names the field and value), else its Message; "Business Validation Error:" cut."""
    text = (error.detail or str(error)).strip()
    text = re.sub(r"^Business Validation Error:\s*", "", text)
    return text if text.endswith(".") else text + "."


def _bitrix24(error: b24.Bitrix24Error) -> str:
    if isinstance(error, (b24.ExpiredToken, b24.InvalidToken, b24.NoAuthFound, b24.InvalidGrant,
                          b24.InvalidClient, b24.WrongAuthType, b24.PortalDeleted)):
        return "Bitrix24 refused the app's stored tokens; an administrator should open the app in the portal."
    if isinstance(error, (b24.AccessDenied, b24.InsufficientScope)):
        return "Bitrix24 denied the app access to the record (the installing user's rights or the app's scope)."
    if isinstance(error, (b24.QueryLimitExceeded, b24.OverloadLimit, b24.OperationTimeLimit, b24.ServerError)):
        return f"Bitrix24 was busy or failed ({error.code or error.status})." + AGAIN
    return plain(f"Bitrix24 refused to read the record ({error.code or error.status}).")


def plain(text: str) -> str:
    """The text without links or token-like runs, on one line."""
    return " ".join(SECRET_LIKE.sub("(hidden)", text).split())
