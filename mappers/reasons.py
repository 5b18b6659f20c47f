"""Reason templates: the English sentences the sync stores when a record cannot be written, with named
placeholders, so the app page can say them in its reader's language (webhooks/reasons_view.py).

What is stored stays English (the CLI, logs and old rows read it as it is); the page matches a stored sentence
against these templates and shows the translated template with the same values. A template is marked with
`N_` (a no-op: `make translations` extracts it with `-k N_`), built with `reason(TEMPLATE, name=value)`.
Placeholder values are a record's id, name or a vendor's own words, and stay as they are; the few English
words a placeholder may hold (a record kind, a fixed clause) are PHRASES, translated on their own.

This module holds the mappers' sentences (mappers import nothing of the service); workers/reasons.py holds
the workers' and the whole registry.
"""
from __future__ import annotations


def N_(template: str) -> str:
    """Marks a reason template for extraction; the text itself, unchanged."""
    return template


def reason(template: str, **values: object) -> str:
    """The stored (English) sentence: the template with its placeholders filled in."""
    return template % {name: str(value) for name, value in values.items()}


# mappers/b24_customer.py
NOT_A_CUSTOMER_KIND = N_("A '%(kind)s' cannot become a QuickBooks customer; only %(kinds)s.")
B24_NOT_AN_OBJECT = N_("The Bitrix24 %(kind)s is not an object (%(type)s).")
B24_MALFORMED = N_("The Bitrix24 %(kind)s %(id)s is malformed (%(fields)s); read it again from Bitrix24 or "
                   "report it as a bug.")
# mappers/schemas.py
QBO_NOT_AN_OBJECT = N_("The QuickBooks %(kind)s is not an object (%(type)s); re-read it from QuickBooks or "
                       "report it as a bug.")
QBO_MALFORMED = N_("The QuickBooks %(kind)s %(id)s is malformed: %(problems)s. Fix it in QuickBooks and sync again.")
# mappers/customer.py
UNKNOWN_CUSTOMER_RULE = N_("Unknown customer rule '%(rule)s'; choose one of %(rules)s in the app's settings.")
LINKED_TO_ODD_KIND = N_("Customer %(id)s is linked to a CRM %(kind)s, which is neither a contact nor a company.")
SUB_CUSTOMER = N_("Customer %(id)s is a sub-customer (job or project): it has no CRM record of its own, its "
                  "invoices go to its top-level customer.")
# mappers/invoice.py
UNKNOWN_INVOICE_TARGET = N_("Unknown invoice target '%(target)s': expected %(expected)s; check the portal's Use "
                            "new invoice setting.")
NO_STAGE = N_("No stage is chosen for QuickBooks status '%(status)s'; choose one in the app's settings (Invoice "
              "stages) and sync again.")
NO_CURRENCY = N_("Invoice %(id)s has no currency and the portal has no base currency; set a base currency in "
                 "Bitrix24 (CRM > Settings > Currencies) and sync again.")
CURRENCY_MISSING = N_("The portal has no currency %(currency)s, used by invoice %(number)s; add %(currency)s in "
                      "Bitrix24 (CRM > Settings > Currencies) and sync again.")
NO_PAYER_TYPE = N_("The portal has no payer type or payment system for old invoices; set up invoices in Bitrix24 "
                   "(CRM > Settings > Payment systems) or switch on Use new invoice.")
OLD_INVOICE_CURRENCY = N_("Invoice %(number)s is in %(currency)s, but old Bitrix24 invoices are always in the "
                          "portal's invoice currency (%(base)s) and its amounts would be read as %(base)s; switch "
                          "on Use new invoice to keep %(currency)s invoices.")
# mappers/invoice_lines.py
DISCOUNT_TOO_LARGE = N_("A discount is larger than the lines it applies to; Bitrix24 rows cannot hold a negative "
                        "amount. Correct the discount in QuickBooks and sync again.")
# mappers/invoice_tax.py
TAX_INEXPRESSIBLE = N_("Invoice %(number)s's tax cannot be shown as Bitrix24 row tax rates: %(why)s. Check the "
                       "invoice's tax in QuickBooks (tax codes and rates per line) and sync again.")
NO_TAXABLE_LINE = N_("it charges tax but none of its lines is taxable")
NO_RATE_ADDS_UP = N_("no percent rate per tax code adds up to its total tax")

TEMPLATES = (NOT_A_CUSTOMER_KIND, B24_NOT_AN_OBJECT, B24_MALFORMED, QBO_NOT_AN_OBJECT, QBO_MALFORMED,
             UNKNOWN_CUSTOMER_RULE, LINKED_TO_ODD_KIND, SUB_CUSTOMER, UNKNOWN_INVOICE_TARGET, NO_STAGE, NO_CURRENCY,
             CURRENCY_MISSING, NO_PAYER_TYPE, OLD_INVOICE_CURRENCY, DISCOUNT_TOO_LARGE, TAX_INEXPRESSIBLE)
# Record kinds the mappers name in a sentence (b24_customer's B24_TYPES, schemas' `what`), and fixed clauses.
PHRASES = (N_("contact"), N_("company"), N_("lead"), N_("customer"), N_("invoice"), NO_TAXABLE_LINE,
           NO_RATE_ADDS_UP)
