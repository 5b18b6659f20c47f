"""The workers' reason templates (mappers/reasons.py says how templates work) and the whole registry the app page
translates stored reasons with (webhooks/reasons_view.py): TEMPLATES, whole sentences; ADDENDA, sentences a
producer appends to another after a space (" " + AGAIN); PHRASES, English words a placeholder may hold.
"""
from __future__ import annotations

from mappers import reasons as mapper_reasons
from mappers.reasons import N_

# workers/export_errors.py: why an export attempt failed (received_events.last_error)
EXPORT_UNKNOWN = N_("The export failed for an unknown reason.")
NETWORK_FAILED = N_("A network request failed (the connection broke or timed out).")
EXPORT_LOCKED = N_("Another export of this record was still running.")
NO_TOKENS = N_("The app holds no tokens for this portal or its QuickBooks company; open the app and log in again.")
EXPORT_UNEXPECTED = N_("An unexpected error (%(type)s) stopped the export; the app's log has the details.")
QBO_REFUSED_CONNECTION = N_("QuickBooks refused the app's connection; log in with QuickBooks again on this page.")
QBO_THROTTLED = N_("QuickBooks asked the app to slow down (too many requests).")
QBO_UNAVAILABLE = N_("QuickBooks did not answer (a temporary fault on its side).")
QBO_REFUSED_NAME = N_("QuickBooks refused the name: %(said)s")  # `said`: the Fault's words, ending in "."
QBO_REFUSED_CUSTOMER = N_("QuickBooks refused the customer: %(said)s")
B24_REFUSED_TOKENS = N_("Bitrix24 refused the app's stored tokens; an administrator should open the app in the "
                        "portal.")
B24_DENIED_RECORD = N_("Bitrix24 denied the app access to the record (the installing user's rights or the app's "
                       "scope).")
B24_BUSY = N_("Bitrix24 was busy or failed (%(code)s).")
B24_REFUSED_READ = N_("Bitrix24 refused to read the record (%(code)s).")
B24_NO_RECORD = N_("Bitrix24 answered no %(kind)s for id %(id)s.")  # workers/exports.py
AGAIN = N_("It is tried again automatically; Retry tries it now.")

# workers/b24_writes.py, sync_customers.py, sync_invoices.py, change_deletes.py: a refused write
REFUSED_CREATE = N_("Bitrix24 refused to create the %(what)s: %(said)s.")  # `said`: its description (and code)
REFUSED_UPDATE = N_("Bitrix24 refused to update the %(what)s: %(said)s.")
REFUSED_DELETE = N_("Bitrix24 refused to delete the %(what)s: %(said)s.")
REFUSED = {"create": REFUSED_CREATE, "update": REFUSED_UPDATE, "delete": REFUSED_DELETE}
CORRECT_AND_SYNC = N_("Correct the record in QuickBooks or the portal, then start the sync again.")
REQUIRED_FIELD_ADVICE = N_("This portal makes a custom field mandatory and checks it for REST writes: fill it in, "
                           "or switch off CRM settings → Other → Market → Check required custom fields, then start "
                           "the sync again.")
NO_ID = N_("Bitrix24 answered no id.")
NO_PERSON_ID = N_("Bitrix24 answered no id for the company's contact person.")
NO_REASON_GIVEN = N_("no reason given")
# workers/customer_match.py
SEARCH_REFUSED = N_("Bitrix24 refused the search for an existing %(kind)s with this customer's email or phone: "
                    "%(said)s. It was not created, so as not to duplicate a %(kind)s already in the portal; check "
                    "the email and phone in QuickBooks and the app's access in the portal, then start the sync "
                    "again.")
# workers/sync_state.py: something other than a MappingError raised while mapping
UNREADABLE_RECORD = N_("The sync could not read this record (%(error)s); correct it in QuickBooks or report the "
                       "problem, then start the sync again.")
# workers/sync_invoices.py: the invoice's customer
CUSTOMER_FAILED = N_("The invoice's customer %(name)s (QuickBooks id %(id)s) failed to import (see its failure); "
                     "fix the customer and start the sync again.")
CUSTOMER_NOT_IN_B24 = N_("The invoice's customer %(name)s (QuickBooks id %(id)s) is not in Bitrix24; fix the "
                         "customer and start the sync again.")

# workers/full_sync.py fatal_reason and workers/tasks.py: what stopped a run (sync_runs.error)
QBO_SIGN_IN_UNREADABLE = N_("The app can no longer read this portal's stored QuickBooks sign-in; log in to "
                            "QuickBooks again from the app page, then start the sync again.")
B24_SIGN_IN_UNREADABLE = N_("The app can no longer read this portal's stored Bitrix24 sign-in; an administrator "
                            "should open the app in Bitrix24 again, then start the sync again.")
QBO_AUTHORIZATION_GONE = N_("QuickBooks no longer accepts this connection's authorization; log in to QuickBooks "
                            "again from the app page, then start the sync again.")
QBO_REFUSED_REQUEST = N_("QuickBooks refused a request (%(error)s); start the sync again later.")
B24_REFUSED_REQUEST = N_("Bitrix24 refused a request (%(code)s: %(said)s); check the app's access in the portal, "
                         "then start the sync again.")
RUN_UNEXPECTED = N_("The sync stopped on an unexpected error (%(error)s).")
RUN_CRASHED = N_("The sync stopped on an unexpected error: %(error)s")
RUN_GAVE_UP = N_("Gave up after %(count)s retries: %(error)s")
RUN_NOT_QUEUED = N_("The sync could not be queued (%(error)s); start it again.")
RUN_NO_COMPANY = N_("This portal has no QuickBooks company; log in with QuickBooks and start again.")

TEMPLATES = mapper_reasons.TEMPLATES + (
    EXPORT_UNKNOWN, NETWORK_FAILED, EXPORT_LOCKED, NO_TOKENS, EXPORT_UNEXPECTED, QBO_REFUSED_CONNECTION,
    QBO_THROTTLED, QBO_UNAVAILABLE, QBO_REFUSED_NAME, QBO_REFUSED_CUSTOMER, B24_REFUSED_TOKENS, B24_DENIED_RECORD,
    B24_BUSY, B24_REFUSED_READ, B24_NO_RECORD, REFUSED_CREATE, REFUSED_UPDATE, REFUSED_DELETE, NO_ID, NO_PERSON_ID,
    SEARCH_REFUSED, UNREADABLE_RECORD, CUSTOMER_FAILED, CUSTOMER_NOT_IN_B24, QBO_SIGN_IN_UNREADABLE,
    B24_SIGN_IN_UNREADABLE, QBO_AUTHORIZATION_GONE, QBO_REFUSED_REQUEST, B24_REFUSED_REQUEST, RUN_UNEXPECTED,
    RUN_CRASHED, RUN_GAVE_UP, RUN_NOT_QUEUED, RUN_NO_COMPANY)
ADDENDA = (AGAIN, CORRECT_AND_SYNC, REQUIRED_FIELD_ADVICE)
# The record kinds a write names (sync_invoices.WHAT, a customer's entity) and the "no reason given" stand-in.
PHRASES = mapper_reasons.PHRASES + (
    N_("Smart Invoice"), N_("Smart Invoice's product rows"), N_("invoice's product rows"),
    N_("company's contact person"), NO_REASON_GIVEN)
