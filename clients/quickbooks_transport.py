"""python-quickbooks' request/Fault handling, with our tokens, shared limits and status checks.

We subclass the library's QuickBooks client rather than configure it because (reference §8):
its constructor refreshes tokens on its own when handed an AuthClient without an access token,
it never refreshes on 401, and it discards the HTTP status, so a 429 looks like any Fault.
Constructed without `auth_client`, it does no I/O; `process_request` is the single hook all its
calls go through.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import requests
from quickbooks.client import QuickBooks

from clients.quickbooks_errors import Forbidden, ServiceUnavailable, Throttled

MINOR_VERSION = 75  # Intuit ignores anything lower since 2025-08-01 (reference §8)
PRODUCTION_API = "https://quickbooks.api.intuit.com/v3"
SANDBOX_API = "https://sandbox-quickbooks.api.intuit.com/v3"
DEFAULT_TIMEOUT = (5.0, 120.0)  # Intuit times requests out at 120 s (reference §6)
# A web request's calls (Create Invoice): the server kills a request after 30 s (config/gunicorn.py), so a
# call gives up well before; a create cut short lands later and is replayed by its requestid.
QUICK_TIMEOUT = (3.0, 10.0)


class QboTransport(QuickBooks):
    """One realm's HTTP transport: bearer from `token`, each request inside `gate(realm_id)`."""

    def __new__(cls, **kwargs):
        return super().__new__(cls, company_id=kwargs["realm_id"], minorversion=MINOR_VERSION)

    def __init__(self, *, realm_id: str, api_base: str, token: Callable[[], str],
                 gate: Callable[[str], AbstractContextManager[None]],
                 http: requests.Session | None = None,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.realm_id = realm_id
        self.api_url_v3 = api_base.rstrip("/")
        self.sandbox = False  # api_url then resolves to api_url_v3, which we set
        self.token, self.gate, self.timeout = token, gate, timeout
        self.http = http or requests.Session()

    def process_request(self, request_type, url, headers="", params="", data=""):
        headers = dict(headers or {})
        headers["Authorization"] = "Bearer " + self.token()
        with self.gate(self.realm_id):
            try:
                response = self.http.request(request_type, url, headers=headers, params=params,
                                             data=_encode(data), timeout=self.timeout)
            except requests.RequestException as exc:  # the class only: its text holds the URL
                raise ServiceUnavailable(f"QuickBooks unreachable ({type(exc).__name__})") from None
        _raise_for_transport(response)
        return response


def _encode(data):
    return data.encode("utf-8") if isinstance(data, str) else data


def _raise_for_transport(response: requests.Response) -> None:
    """Statuses the library would misfile (403's gateway body reads as a 10000 SevereException to it);
    401 and Faults are left to it."""
    if response.status_code == 429:
        raise Throttled("QuickBooks throttled the realm (HTTP 429)", status=429,
                        retry_after=_retry_after(response), code="3001")
    if response.status_code == 403:
        raise Forbidden("QuickBooks refused the token for this company (HTTP 403)", status=403, code="3100")
    if response.status_code in (502, 503, 504):
        raise ServiceUnavailable(f"QuickBooks unavailable (HTTP {response.status_code})",
                                 status=response.status_code)


def _retry_after(response: requests.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "60")))
    except ValueError:
        return 60.0  # Intuit's limits page: wait 60 s after a 429
