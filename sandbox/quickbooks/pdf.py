"""GET /invoice/<id>/pdf: a small, valid one-page PDF written by hand (no PDF library), text uncompressed."""
from __future__ import annotations

from typing import Any

MAX_LINES = 30  # one Letter page at 16 pt leading; further invoice lines are summarised
ITEM_ROWS = MAX_LINES - 10  # what the header, totals and footer leave for invoice lines
LEADING = 16


def _pdf_text(text: str) -> bytes:
    """A PDF literal string: WinAnsi (cp1252) bytes, unmappable characters as '?', delimiters escaped."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _amount(value: Any) -> str:
    """1234.5 → "1,234.50"."""
    try:
        return f"{float(value or 0):,.2f}"
    except (TypeError, ValueError):
        return str(value)


def invoice_text(invoice: dict[str, Any], company_name: str) -> list[str]:
    """The lines printed on the page: company, number, dates, customer, item lines, total and balance."""
    currency = (invoice.get("CurrencyRef") or {}).get("value", "USD")
    rows = [company_name or "QuickBooks Online", f"INVOICE {invoice.get('DocNumber', invoice['Id'])}",
            f"Date: {invoice.get('TxnDate', '')}    Due: {invoice.get('DueDate', '')}",
            f"Bill to: {(invoice.get('CustomerRef') or {}).get('name', '')}", ""]
    items = [line for line in invoice.get("Line") or [] if line.get("DetailType") == "SalesItemLineDetail"]
    for line in items[:ITEM_ROWS]:
        name = (line["SalesItemLineDetail"].get("ItemRef") or {}).get("name", "")
        rows.append(f"{line.get('Description') or name}    {_amount(line.get('Amount'))}")
    if len(items) > ITEM_ROWS:
        rows.append(f"... and {len(items) - ITEM_ROWS} more lines")
    rows += ["", f"Total: {_amount(invoice.get('TotalAmt'))} {currency}",
             f"Balance due: {_amount(invoice.get('Balance'))} {currency}"]
    return rows


def _content(rows: list[str]) -> bytes:
    """The page's content stream: one Tj per row, top down."""
    parts = [b"BT /F1 12 Tf %d TL 72 740 Td" % LEADING]
    for row in rows:
        parts.append(_pdf_text(row) + b" Tj T*")
    parts.append(b"ET")
    return b"\n".join(parts)


def _assemble(objects: list[bytes], root: int, info: int) -> bytes:
    """Header, numbered objects, a cross-reference table with exact byte offsets, trailer, %%EOF."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\n" % (len(objects) + 1, root, info)
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def invoice_pdf(invoice: dict[str, Any], company_name: str) -> bytes:
    """The invoice as a PDF naming its number, customer and total."""
    stream = _content(invoice_text(invoice, company_name))
    title = _pdf_text(f"Invoice {invoice.get('DocNumber', invoice['Id'])}")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Title " + title + b" /Producer (qb24 QuickBooks sandbox) >>",
    ]
    return _assemble(objects, root=1, info=6)
