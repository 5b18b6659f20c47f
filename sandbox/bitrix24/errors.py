"""REST and OAuth error answers in Bitrix24's `{"error", "error_description"}` shape."""
from __future__ import annotations


class RestError(Exception):
    """A REST method failure carrying the HTTP status and Bitrix24 error code."""

    def __init__(self, status: int, code: str, description: str = "") -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict:
        """The JSON body Bitrix24 answers with."""
        return {"error": self.code, "error_description": self.description}


def classic(description: str) -> RestError:
    """Classic crm.contact/company/invoice errors: HTTP 400 with an empty `error` code (reference §5)."""
    return RestError(400, "", description)


def not_found_method() -> RestError:
    """Unknown method: 404 ERROR_METHOD_NOT_FOUND (reference §8)."""
    return RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")


def app_context_required() -> RestError:
    """Methods that need application (OAuth) context, reached through a webhook."""
    return RestError(400, "ACCESS_DENIED", "Access denied! Application context required")


def wrong_auth_type() -> RestError:
    """placement.bind / event.bind through an incoming webhook (reference §2)."""
    return RestError(403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")
