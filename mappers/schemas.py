"""Marshmallow schemas for the QuickBooks records the mappers consume (the edge of mappers/).

They check only what the mappers read, leave every other key alone (`unknown = INCLUDE`), and turn a
malformed record into a MappingError that names the fields at fault.
"""
from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from mappers.errors import MappingError
from mappers.reasons import QBO_MALFORMED, QBO_NOT_AN_OBJECT, reason


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class RefSchema(_Open):
    value = fields.String(required=True, validate=validate.Length(min=1))
    name = fields.String(allow_none=True)


class EmailSchema(_Open):
    Address = fields.String(allow_none=True)


class PhoneSchema(_Open):
    FreeFormNumber = fields.String(allow_none=True)


class WebSchema(_Open):
    URI = fields.String(allow_none=True)


class AddressSchema(_Open):
    Line1 = fields.String(allow_none=True)
    Line2 = fields.String(allow_none=True)
    Line3 = fields.String(allow_none=True)
    Line4 = fields.String(allow_none=True)
    Line5 = fields.String(allow_none=True)
    City = fields.String(allow_none=True)
    CountrySubDivisionCode = fields.String(allow_none=True)
    Country = fields.String(allow_none=True)
    PostalCode = fields.String(allow_none=True)


class CustomerSchema(_Open):
    Id = fields.String(required=True, validate=validate.Length(min=1))
    DisplayName = fields.String(required=True, validate=validate.Length(min=1))
    GivenName = fields.String(allow_none=True)
    MiddleName = fields.String(allow_none=True)
    FamilyName = fields.String(allow_none=True)
    CompanyName = fields.String(allow_none=True)
    Notes = fields.String(allow_none=True)
    Active = fields.Boolean(load_default=True)
    PrimaryEmailAddr = fields.Nested(EmailSchema, allow_none=True)
    PrimaryPhone = fields.Nested(PhoneSchema, allow_none=True)
    Mobile = fields.Nested(PhoneSchema, allow_none=True)
    AlternatePhone = fields.Nested(PhoneSchema, allow_none=True)
    Fax = fields.Nested(PhoneSchema, allow_none=True)
    WebAddr = fields.Nested(WebSchema, allow_none=True)
    BillAddr = fields.Nested(AddressSchema, allow_none=True)
    ShipAddr = fields.Nested(AddressSchema, allow_none=True)
    CurrencyRef = fields.Nested(RefSchema, allow_none=True)


def checked(schema: Schema, record: Any, what: str) -> dict[str, Any]:
    """`record` unchanged when the schema accepts it; else a MappingError naming every bad field."""
    if not isinstance(record, dict):
        raise MappingError(reason(QBO_NOT_AN_OBJECT, kind=what, type=type(record).__name__))
    try:
        schema.load(record)
    except ValidationError as error:
        raise MappingError(reason(QBO_MALFORMED, kind=what, id=record.get("Id", "?"),
                                  problems=_describe(error.messages))) from None
    return record


def _describe(messages: Any, path: str = "") -> str:
    if isinstance(messages, dict):
        return "; ".join(_describe(value, f"{path}.{key}" if path else str(key))
                         for key, value in messages.items())
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return f"{path}: {' '.join(m.rstrip('.') for m in messages)}"
    if isinstance(messages, list):
        return "; ".join(_describe(m, path) for m in messages)
    return f"{path}: {messages}"


class LineSchema(_Open):
    DetailType = fields.String(required=True)
    Amount = fields.Float(allow_none=True)
    Description = fields.String(allow_none=True)


class InvoiceSchema(_Open):
    Id = fields.String(required=True, validate=validate.Length(min=1))
    DocNumber = fields.String(allow_none=True)
    TxnDate = fields.Date(required=True)
    DueDate = fields.Date(allow_none=True)
    TotalAmt = fields.Float(required=True)
    Balance = fields.Float(load_default=0)
    CustomerRef = fields.Nested(RefSchema, required=True)
    CurrencyRef = fields.Nested(RefSchema, allow_none=True)
    Line = fields.List(fields.Nested(LineSchema), load_default=list)
    PrivateNote = fields.String(allow_none=True)
