"""The QuickBooks Online client the service uses: one realm, raw QuickBooks JSON in and out.

Entities are plain dicts in QuickBooks' own shape (what mappers consume); python-quickbooks'
object classes are avoided for writes because a fresh object sends defaults ("" names,
Active=true) that clobber data in a sparse update (reference §8 footgun 1).
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests
from quickbooks import exceptions as qb_exc
from quickbooks.client import QuickBooks

from clients.coordination import Locks
from clients.quickbooks_auth import QboOAuth, RealmTokens, TokenKeeper
from clients.quickbooks_errors import (QuickBooksError, ServiceUnavailable, Unauthorized, ValidationFailed,
                                       translate)
from clients.quickbooks_transport import DEFAULT_TIMEOUT, QboTransport

PAGE_MAX = 1000  # QuickBooks' MAXRESULTS ceiling (reference §3)
Gate = Callable[[str], AbstractContextManager[None]]


def no_gate(_realm_id: str) -> AbstractContextManager[None]:
    """A gate that never waits (tests that exercise the sandbox's own limits)."""
    return nullcontext()


@dataclass(frozen=True)
class CdcResult:
    """Changes since a watermark: entity name → records (tombstones have status 'Deleted')."""

    time: str  # the server's clock: store it as the next changedSince
    changes: dict[str, list[dict[str, Any]]]

    def tombstones(self, entity: str) -> list[dict[str, Any]]:
        return [r for r in self.changes.get(entity, []) if r.get("status") == "Deleted"]


class QuickBooksClient:
    """Reads and writes one realm; refreshes tokens once across workers; typed errors only."""

    def __init__(self, realm_id: str, *, tokens: RealmTokens, oauth: QboOAuth, locks: Locks,
                 api_base: str, gate: Gate = no_gate, http: requests.Session | None = None,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.realm_id = realm_id
        self.keeper = TokenKeeper(realm_id, tokens, oauth, locks)
        self._token: str | None = None
        self.transport = QboTransport(realm_id=realm_id, api_base=api_base, token=self._current_token,
                                      gate=gate, http=http, timeout=timeout)

    def _current_token(self) -> str:
        if self._token is None:
            self._token = self.keeper.access_token()
        return self._token

    def _request(self, operation: Callable[[], dict]) -> dict:
        """Run a library call; on 401 refresh once (across workers) and retry once."""
        for attempt in (1, 2):
            try:
                return operation()
            except qb_exc.QuickbooksException as exc:
                error = translate(exc)
                if isinstance(error, Unauthorized) and attempt == 1:
                    self._token = self.keeper.refresh(failed_token=self._token)
                    continue
                raise error from None
        raise AssertionError("unreachable")

    # -- reads -------------------------------------------------------------------------------

    def get(self, entity: str, entity_id: str) -> dict[str, Any]:
        """Read one entity by Id (raises NotFound)."""
        body = self._request(lambda: self.transport.get_single_object(entity, entity_id))
        return body[entity]

    def company_info(self) -> dict[str, Any]:
        return self.get("CompanyInfo", self.realm_id)

    def query(self, statement: str) -> list[dict[str, Any]]:
        """Run one query statement and return its page of records."""
        body = self._request(lambda: self.transport.query(statement))
        return query_records(body.get("QueryResponse", {}))

    def count(self, entity: str, where: str = "") -> int:
        statement = f"SELECT COUNT(*) FROM {entity}" + (f" WHERE {where}" if where else "")
        body = self._request(lambda: self.transport.query(statement))
        return int(body.get("QueryResponse", {}).get("totalCount", 0))

    def batch_query(self, statements: list[str]) -> list[dict[str, Any] | QuickBooksError]:
        """Run up to 30 query statements in one batch request; per statement its QueryResponse or its error.

        A Fault inside one item fails only that item (batch reference): it comes back as that item's
        typed error, not raised; a failure of the whole request (401, 429, a Fault at the top) raises.
        """
        return self.batch_query_at(statements)[0]

    def batch_query_at(self, statements: list[str]) -> tuple[list[dict[str, Any] | QuickBooksError], str]:
        """batch_query, and the server's clock when it answered: the envelope's `time`, as in every answer
        (a real batch answer: fixtures/quickbooks/faults/batch_response_with_610_object_not_found_and_5010_
        stale_object.json), "" when absent."""
        items = [{"bId": str(index), "Query": statement} for index, statement in enumerate(statements)]
        body = self._request(lambda: self.transport.batch_operation(json.dumps({"BatchItemRequest": items})))
        answers = {str(a.get("bId")): a for a in body.get("BatchItemResponse", []) if isinstance(a, dict)}
        return [_batch_item(answers.get(item["bId"])) for item in items], str(body.get("time") or "")

    def query_pages(self, entity: str, where: str = "", *, page_size: int = PAGE_MAX,
                    order_by: str = "Id", start: int = 1) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """Yield (start_position, page) through every match, in a stable order, resumable at `start`."""
        page_size = min(page_size, PAGE_MAX)
        clause = f" WHERE {where}" if where else ""
        while True:
            page = self.query(f"SELECT * FROM {entity}{clause} ORDERBY {order_by} "
                              f"STARTPOSITION {start} MAXRESULTS {page_size}")
            if page:
                yield start, page
            if len(page) < page_size:
                return
            start += page_size

    def cdc(self, entities: list[str], changed_since: datetime) -> CdcResult:
        """Change data capture since an aware datetime; every requested entity gets a list."""
        since = changed_since.astimezone(timezone.utc).isoformat(timespec="seconds")  # the library drops offsets
        body = self._request(lambda: self.transport.change_data_capture(",".join(entities), since))
        return CdcResult(time=body.get("time", ""), changes=_cdc_changes(body, entities))

    # -- writes ------------------------------------------------------------------------------

    def create(self, entity: str, fields: dict[str, Any], *, request_id: str | None = None) -> dict[str, Any]:
        """Create with a requestid so a retried create replays instead of duplicating."""
        rid = request_id or uuid.uuid4().hex
        body = self._request(lambda: self.transport.create_object(entity, json.dumps(fields), request_id=rid))
        return body[entity]

    def sparse_update(self, entity: str, entity_id: str, sync_token: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change only `fields` (raises StaleObject on an outdated SyncToken)."""
        payload = {**fields, "Id": entity_id, "SyncToken": sync_token, "sparse": True}
        body = self._request(lambda: self.transport.update_object(entity, json.dumps(payload)))
        return body[entity]

    def deactivate_customer(self, customer: dict[str, Any]) -> dict[str, Any]:
        """Customers cannot be deleted, only made inactive (reference §4)."""
        return self.sparse_update("Customer", customer["Id"], customer["SyncToken"], {"Active": False})

    def void_invoice(self, invoice: dict[str, Any]) -> dict[str, Any]:
        return self._operation("Invoice", invoice, "void")

    def delete_invoice(self, invoice: dict[str, Any]) -> dict[str, Any]:
        return self._operation("Invoice", invoice, "delete")

    def _operation(self, entity: str, record: dict[str, Any], operation: str) -> dict[str, Any]:
        payload = json.dumps({"Id": record["Id"], "SyncToken": record["SyncToken"]})
        body = self._request(lambda: self.transport.update_object(entity, payload, params={"operation": operation}))
        return body[entity]

    def send_invoice(self, invoice_id: str, send_to: str | None = None) -> dict[str, Any]:
        """Email the invoice from QuickBooks (EmailStatus becomes EmailSent)."""
        url = f"{self.transport.api_url}/company/{self.realm_id}/invoice/{invoice_id}/send"
        params = {"sendTo": send_to} if send_to else {}
        body = self._request(lambda: self.transport.post(url, "", content_type="application/octet-stream",
                                                         params=dict(params)))
        return body["Invoice"]


def _batch_item(answer: dict[str, Any] | None) -> dict[str, Any] | QuickBooksError:
    """One BatchItemResponse entry as its QueryResponse, or its Fault as our typed error."""
    if answer is None:
        return ServiceUnavailable("QuickBooks answered the batch without this item")
    if "Fault" in answer:
        try:
            QuickBooks.handle_exceptions(answer["Fault"])  # the library's code ranges, as for a single request
        except qb_exc.QuickbooksException as exc:
            return translate(exc)
        return ValidationFailed("QuickBooks faulted the batch item without an error")
    return answer.get("QueryResponse", {})


def quoted(value: str) -> str:
    """A query string literal: backslash, then quote escaped (reference §3; python-quickbooks #319 leaves
    backslashes alone)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def query_records(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A QueryResponse's page: one entity per query, so its only list; an empty result is {}."""
    return next((v for v in response.values() if isinstance(v, list)), [])


def _cdc_changes(body: dict[str, Any], entities: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Flatten CDCResponse; the library raises AttributeError for an entity with no changes."""
    changes: dict[str, list[dict[str, Any]]] = {name: [] for name in entities}
    for cdc in body.get("CDCResponse", []):
        for query_response in cdc.get("QueryResponse", []):
            for name, records in query_response.items():
                if isinstance(records, list):
                    changes.setdefault(name, []).extend(records)
    return changes
