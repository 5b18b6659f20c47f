"""Typed Bitrix24 errors and the mapping from an error body (and status) to them.

Bitrix24 is inconsistent about statuses (older docs listed most errors as HTTP 200) and the
classic crm.contact/company methods answer `error: ""` with only a description, so the `error`
code is read first, then the description, then the status (reference bitrix24.md §8).
"""
from __future__ import annotations

from typing import Any


class Bitrix24Error(RuntimeError):
    """An error answer from a Bitrix24 portal or its OAuth server."""

    def __init__(self, code: str, description: str = "", status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{code or '(no code)'} [{status}]: {description}")
        self.code, self.description, self.status, self.retry_after = code, description, status, retry_after


class ExpiredToken(Bitrix24Error):
    """The access token is past its hour; refresh and retry."""


class InvalidToken(Bitrix24Error):
    """The access token is unknown to the portal (rotated elsewhere, or garbage)."""


class NoAuthFound(Bitrix24Error):
    """The request carried no usable authorization."""


class InvalidGrant(Bitrix24Error):
    """The refresh token is expired or revoked: the portal must authorize the app again."""



class InvalidClient(Bitrix24Error):
    """The OAuth server does not know our client_id / client_secret."""


class AccessDenied(Bitrix24Error):
    """The user or plan may not do this."""


class InsufficientScope(Bitrix24Error):
    """The app lacks the scope the method needs."""


class WrongAuthType(Bitrix24Error):
    """The method needs application context (e.g. placement.bind from a webhook)."""


class QueryLimitExceeded(Bitrix24Error):
    """The portal's leaky bucket overflowed (HTTP 503)."""


class OverloadLimit(Bitrix24Error):
    """The portal was blocked by hand (503 OVERLOAD_LIMIT); not worth a quick retry."""


class OperationTimeLimit(Bitrix24Error):
    """The method used up its execution-time budget (HTTP 429); wait for operating_reset_at."""


class MethodNotFound(Bitrix24Error):
    """No such REST method (or not available to this app)."""


class NotFound(Bitrix24Error):
    """The entity or smart process does not exist."""


class InvalidArgument(Bitrix24Error):
    """A parameter is missing, malformed or not allowed."""


class BatchLengthExceeded(Bitrix24Error):
    """A batch command beyond the 50th."""


class BatchMethodNotAllowed(Bitrix24Error):
    """A nested batch or a file transfer inside a batch."""


class RequiredFieldError(Bitrix24Error):
    """A mandatory CRM field is missing (CRM_FIELD_ERROR_REQUIRED)."""


class AlreadyBound(Bitrix24Error):
    """event.bind / placement.bind of a handler that is already bound; callers treat it as success."""


class PortalDeleted(Bitrix24Error):
    """The portal no longer exists."""


class PaymentRequired(Bitrix24Error):
    """The app's trial or paid period is over, or the app was removed."""


class ServerError(Bitrix24Error):
    """A 5xx, or an answer that is not the JSON Bitrix24 promises."""


_BY_CODE: dict[str, type[Bitrix24Error]] = {
    "EXPIRED_TOKEN": ExpiredToken, "INVALID_TOKEN": InvalidToken, "NO_AUTH_FOUND": NoAuthFound,
    "AUTHORIZATION_ERROR": NoAuthFound, "ERROR_OAUTH": NoAuthFound,
    "INVALID_GRANT": InvalidGrant, "INVALID_CLIENT": InvalidClient,
    "ACCESS_DENIED": AccessDenied, "INVALID_CREDENTIALS": AccessDenied, "USER_ACCESS_ERROR": AccessDenied,
    "INSUFFICIENT_SCOPE": InsufficientScope, "INVALID_SCOPE": InsufficientScope,
    "WRONG_AUTH_TYPE": WrongAuthType,
    "QUERY_LIMIT_EXCEEDED": QueryLimitExceeded, "OVERLOAD_LIMIT": OverloadLimit,
    "OPERATION_TIME_LIMIT": OperationTimeLimit,
    "ERROR_METHOD_NOT_FOUND": MethodNotFound, "METHOD_NOT_FOUND": MethodNotFound,
    "NOT_FOUND": NotFound, "ERROR_NOT_FOUND": NotFound, "ERROR_EVENT_NOT_FOUND": NotFound,
    "INVALID_ARG_VALUE": InvalidArgument, "ERROR_ARGUMENT": InvalidArgument, "INVALID_REQUEST": InvalidArgument,
    "INVALID_ARGUMENT": InvalidArgument, "ERROR_REQUIRED_PARAMETERS_MISSING": InvalidArgument,
    "CRM_FIELD_ERROR_VALUE_NOT_VALID": InvalidArgument, "ERROR_WRONG_TYPE": InvalidArgument,
    "ENTITY_TYPE_NOT_SUPPORTED": InvalidArgument,
    "ERROR_BATCH_LENGTH_EXCEEDED": BatchLengthExceeded,
    "ERROR_BATCH_METHOD_NOT_ALLOWED": BatchMethodNotAllowed,
    "CRM_FIELD_ERROR_REQUIRED": RequiredFieldError,
    "ERROR_HANDLER_ALREADY_EXIST": AlreadyBound,
    "PORTAL_DELETED": PortalDeleted, "PAYMENT_REQUIRED": PaymentRequired,
    "INTERNAL_SERVER_ERROR": ServerError, "ERROR_UNEXPECTED_ANSWER": ServerError,
}

# Classic CRM methods send `error: ""`; these descriptions are the documented ones (§5).
_BY_DESCRIPTION: tuple[tuple[str, type[Bitrix24Error]], ...] = (
    ("already binded", AlreadyBound), ("already bound", AlreadyBound),
    ("access denied", AccessDenied), ("not found", NotFound), ("is required", RequiredFieldError),
    ("is not defined or invalid", InvalidArgument), ("must be", InvalidArgument),
)

_BY_STATUS: dict[int, type[Bitrix24Error]] = {
    400: InvalidArgument, 401: NoAuthFound, 402: PaymentRequired, 403: AccessDenied, 404: NotFound,
    405: BatchMethodNotAllowed, 410: PortalDeleted, 429: OperationTimeLimit, 503: QueryLimitExceeded,
}


def error_class(code: str, description: str, status: int | None) -> type[Bitrix24Error]:
    """Pick the error type: by code, then by description, then by status."""
    if code and code.upper() in _BY_CODE:
        return _BY_CODE[code.upper()]
    lowered = description.lower()
    for fragment, cls in _BY_DESCRIPTION:
        if fragment in lowered:
            return cls
    if status is not None and status >= 500 and status != 503:
        return ServerError
    return _BY_STATUS.get(status or 0, Bitrix24Error)


def error_from_body(body: Any, status: int | None) -> Bitrix24Error | None:
    """The typed error an answer carries, or None when it is a success."""
    if not isinstance(body, dict):
        return ServerError("ERROR_UNEXPECTED_ANSWER", f"not a JSON object: {type(body).__name__}", status)
    if "error" not in body:
        if status is not None and status >= 400:
            return error_class("", "", status)("", "", status)
        return None
    code = str(body.get("error") or "")
    description = str(body.get("error_description") or "")
    return error_class(code, description, status)(code, description, status)
