"""GET /invoice/<id>/pdf answers PDF bytes, as python-quickbooks' Invoice.download_pdf expects.

Sources: reference §9 (paths: `/invoice/<id>/pdf`); python-quickbooks 0.9.12 client.download_pdf (GET with
`Accept: application/pdf, application/json`, no minorversion; a non-200 body is read as a JSON Fault);
the 610 Fault of fixtures/quickbooks/faults/
batch_response_with_610_object_not_found_and_5010_stale_object.json.
"""
from __future__ import annotations

import re

import pytest
import requests
from quickbooks import exceptions
from quickbooks.objects.invoice import Invoice

from tests.sandbox.qbo_app_support import Api, Sandbox, assert_fault

STRING = re.compile(rb"\(((?:\\.|[^\\)])*)\) Tj")


def _unescape(raw: bytes) -> str:
    """A PDF literal string's bytes (escapes resolved) as WinAnsi text."""
    return re.sub(rb"\\(.)", rb"\1", raw).decode("cp1252")


def pdf_text(document: bytes) -> list[str]:
    """Check the file's structure by hand (no PDF library here) and return the text it shows.

    Header, every xref offset pointing at its `N 0 obj`, the trailer's /Root catalog, `startxref` pointing at
    the xref table, the content stream's /Length, and `%%EOF` at the end (ISO 32000-1 §7.5).
    """
    assert document.startswith(b"%PDF-1.")
    assert document.rstrip().endswith(b"%%EOF")
    start = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", document).group(1))
    assert document[start:].startswith(b"xref")
    first, count = map(int, re.match(rb"xref\s+(\d+) (\d+)\s", document[start:]).groups())
    table = document[start:].split(b"\n", 2)[2]
    entries = [table[i * 20:(i + 1) * 20] for i in range(count)]
    assert first == 0 and entries[0] == b"0000000000 65535 f \n"
    for number, entry in enumerate(entries[1:], start=1):
        assert entry.endswith(b" 00000 n \n"), entry
        assert document[int(entry[:10]):].startswith(b"%d 0 obj" % number)
    trailer = document[document.index(b"trailer", start):]
    root = int(re.search(rb"/Root (\d+) 0 R", trailer).group(1))
    assert re.search(rb"%d 0 obj\s*<< /Type /Catalog" % root, document)
    length = int(re.search(rb"/Length (\d+) >>\nstream\n", document).group(1))
    stream = document.split(b"stream\n", 1)[1].split(b"\nendstream", 1)[0]
    assert len(stream) == length
    return [_unescape(raw) for raw in STRING.findall(stream)]


def test_download_pdf_through_python_quickbooks_names_number_customer_and_total(qb) -> None:
    invoice = Invoice.get("129", qb=qb)
    document = invoice.download_pdf(qb=qb)
    assert isinstance(document, bytes)
    text = "\n".join(pdf_text(document))
    assert f"INVOICE {invoice.DocNumber}" in text
    assert invoice.CustomerRef.name in text
    assert f"Total: {float(invoice.TotalAmt):,.2f} USD" in text
    assert f"Balance due: {float(invoice.Balance):,.2f} USD" in text


def test_pdf_answer_headers_and_escaped_names(qb, qbo: Sandbox) -> None:
    api = Api(qbo.url, qb.auth_client.access_token, qb.company_id)
    customer = api.call("POST", "customer", body={"DisplayName": "Café (Nord) \\ Süd Ω"}).json()["Customer"]
    line = {"Amount": 1234.5, "DetailType": "SalesItemLineDetail", "Description": "Design (phase 1)",
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    created = api.call("POST", "invoice", body={"Line": [line], "CustomerRef": {"value": customer["Id"]}})
    invoice = created.json()["Invoice"]
    response = requests.get(f"{api.base}/invoice/{invoice['Id']}/pdf", timeout=10, headers={
        "Authorization": f"Bearer {api.token}", "Accept": "application/pdf"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["intuit_tid"]
    text = pdf_text(response.content)
    assert "Bill to: Café (Nord) \\ Süd ?" in text  # Ω has no WinAnsi code: shown as '?'
    assert "Design (phase 1)    1,234.50" in text and "Total: 1,234.50 USD" in text


def test_unknown_or_deleted_invoice_pdf_is_a_610_fault(qb, qbo: Sandbox) -> None:
    api = Api(qbo.url, qb.auth_client.access_token, qb.company_id)
    assert_fault(api.call("GET", "invoice/999999/pdf"), 400, "610")
    assert_fault(api.call("GET", "invoice/16/pdf"), 400, "610")  # 16 is a deleted invoice of the sample
    assert_fault(api.call("GET", "invoice/abc/pdf"), 400, "2030")
    missing = Invoice()
    missing.Id = "999999"
    with pytest.raises(exceptions.ObjectNotFoundException) as caught:
        missing.download_pdf(qb=qb)
    assert caught.value.error_code == 610
