"""workers/export_errors.describe: the sync log's reason is a plain sentence, never a secret, link or traceback."""
from __future__ import annotations

import pytest
import requests

from clients.bitrix24_errors import AccessDenied, ExpiredToken
from clients.quickbooks_errors import DuplicateName, ServiceUnavailable, Unauthorized, ValidationFailed
from mappers.errors import MappingError
from workers.export_errors import describe

TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVlLW5vdC10by1zaG93"


@pytest.mark.parametrize("error, expected", [
    (ValidationFailed("A business validation error has occurred while processing your request", code="6000",
                      detail="Business Validation Error: Invalid Email Address format. Supplied value: amy@quill"),
     "QuickBooks refused the customer: Invalid Email Address format. Supplied value: amy@quill."),
    (ValidationFailed("Invalid Name", code="2170", detail="Name cannot contain a colon (:), tab or newline."),
     "QuickBooks refused the name: Name cannot contain a colon (:), tab or newline."),
    (DuplicateName("every name is taken", code="6240"), "QuickBooks refused the name: every name is taken."),
    (Unauthorized("QuickBooks rejected the access token", status=401),
     "QuickBooks refused the app's connection; log in with QuickBooks again on this page."),
    (AccessDenied("ACCESS_DENIED", "Access denied", 403),
     "Bitrix24 denied the app access to the record (the installing user's rights or the app's scope)."),
    (MappingError("The Bitrix24 contact 5 is malformed (EMAIL); read it again from Bitrix24 or report it as a bug."),
     "The Bitrix24 contact 5 is malformed (EMAIL); read it again from Bitrix24 or report it as a bug."),
])
def test_known_failures_read_as_sentences(error, expected):
    assert describe(error) == expected


@pytest.mark.parametrize("error", [
    requests.ConnectionError(f"HTTPSConnectionPool(host='x.bitrix24.com'): /rest/batch?auth={TOKEN}"),
    RuntimeError(f"Traceback (most recent call last): token={TOKEN}"),
    ExpiredToken("expired_token", f"The access token provided has expired: {TOKEN}", 401),
    ServiceUnavailable(f"https://quickbooks.api.intuit.com/v3/company/1?access_token={TOKEN}"),
    ValidationFailed("bad", code="6000", detail=f"See https://developer.intuit.com/x?t={TOKEN} for {TOKEN}"),
])
def test_no_secret_link_or_traceback_reaches_the_sentence(error):
    said = describe(error)
    assert TOKEN not in said and "http" not in said and "Traceback" not in said and "auth=" not in said
    assert said[0].isupper() and said.endswith(".")
