"""Request counting on the sandboxes' side of the wire: WSGI middleware, by method, as a proxy would see it.

Counting where the requests arrive (not in our clients) means nothing the service sends can go
uncounted: retries, token refreshes and rate-limited attempts all show up.
"""
from __future__ import annotations

import io
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from flask import Flask

WRITE_VERBS = ("add", "update", "set", "delete")
_QBO_PATH = re.compile(r"^/v3/company/[^/]+/([a-z]+)(/[^/]+)?")
_FROM = re.compile(r"\bfrom\s+(\w+)", re.IGNORECASE)


@dataclass
class Tally:
    """What one sandbox received: HTTP requests and (Bitrix24) commands by method, statuses."""

    requests: Counter = field(default_factory=Counter)   # HTTP requests by method label
    commands: Counter = field(default_factory=Counter)   # Bitrix24: batch commands unpacked, by method
    statuses: Counter = field(default_factory=Counter)   # HTTP status codes
    seconds: Counter = field(default_factory=Counter)    # time the sandbox spent answering, by label

    def minus(self, earlier: "Tally") -> "Tally":
        """What arrived since `earlier` (a snapshot of this tally)."""
        return Tally(self.requests - earlier.requests, self.commands - earlier.commands,
                     self.statuses - earlier.statuses, self.seconds - earlier.seconds)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def by_family(self) -> Counter:
        """HTTP requests by the phase they served (see `family`)."""
        out: Counter = Counter()
        for label, n in self.requests.items():
            out[label.split(":", 1)[1] if label.startswith("batch:") else family(label)] += n
        return out

    @property
    def writes(self) -> int:
        """Bitrix24 commands that change data (inside batches too)."""
        return sum(n for method, n in self.commands.items() if method.rsplit(".", 1)[-1] in WRITE_VERBS)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "commands": dict(self.commands),
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


class Counting:
    """WSGI middleware that counts into a Tally; `label` names a request from its path and body."""

    def __init__(self, wsgi_app: Callable, label: Callable[[dict, bytes], tuple[str, list[str]]]) -> None:
        self.wsgi_app, self.label = wsgi_app, label
        self.tally, self.lock = Tally(), threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)  # the app reads the body we consumed
        name, commands = self.label(environ, body)

        def counted_start(status: str, headers: list, *args: Any) -> Callable:
            with self.lock:
                self.tally.statuses[int(status.split(" ", 1)[0])] += 1
            return start_response(status, headers, *args)

        with self.lock:
            self.tally.requests[name] += 1
            self.tally.commands.update(commands)
        started = time.perf_counter()
        answer = list(self.wsgi_app(environ, counted_start))  # the sandboxes answer small bodies at once
        with self.lock:
            self.tally.seconds[name] += time.perf_counter() - started
        return answer

    def snapshot(self) -> Tally:
        with self.lock:
            t = self.tally
            return Tally(Counter(t.requests), Counter(t.commands), Counter(t.statuses), Counter(t.seconds))


def b24_label(environ: dict, body: bytes) -> tuple[str, list[str]]:
    """`/rest/crm.contact.add.json` → crm.contact.add; a batch also names each of its commands."""
    path = environ.get("PATH_INFO", "")
    if not path.startswith("/rest/"):
        return "page " + path.split("/")[1] if path.count("/") > 1 else "page", []
    method = path.rstrip("/").rsplit("/", 1)[-1].lower().removesuffix(".json")
    if method != "batch":
        return method, [method]
    commands = [command.partition("?")[0].strip().lower().removesuffix(".json") for command in _batch_cmd(body)]
    families = {family(command) for command in commands}
    # a batch is charged to the phase it serves: invoices when it carries any invoice command
    return "batch:" + ("invoices" if "invoices" in families else min(families, default="other")), commands


def family(method: str) -> str:
    """Which phase a Bitrix24 method serves: customers, invoices or other (setup reads, profile)."""
    if method.startswith(("crm.item.", "crm.invoice.")):
        return "invoices"
    if method.startswith(("crm.contact.", "crm.company.", "crm.duplicate.")):
        return "customers"
    return "other"


def _batch_cmd(body: bytes) -> list[str]:
    """The command strings of a batch body (JSON as our client sends it, or PHP-style form)."""
    try:
        cmd = json.loads(body or b"{}").get("cmd", {})
        return [str(c) for c in (cmd.values() if isinstance(cmd, dict) else cmd)]
    except (ValueError, AttributeError):
        form = parse_qs(body.decode("utf-8", "replace"))
        return [values[0] for key, values in form.items() if key.startswith("cmd[")]


def qbo_label(environ: dict, body: bytes) -> tuple[str, list[str]]:
    """`query Invoice`, `read customer`, `batch`, `cdc`, … (QuickBooks is counted by request only)."""
    match = _QBO_PATH.match(environ.get("PATH_INFO", ""))
    if match is None:
        return "other " + environ.get("PATH_INFO", ""), []
    operation, tail = match.groups()
    if operation == "query":
        query = (unquote(parse_qs(environ.get("QUERY_STRING", "")).get("query", [""])[0])
                 or body.decode("utf-8", "replace"))
        found = _FROM.search(query)
        return "query " + (found.group(1) if found else "?"), []
    http_method = environ.get("REQUEST_METHOD", "")
    verb = "read" if http_method == "GET" and tail else http_method.lower()
    return f"{verb} {operation}", []


def count_app(app: Flask, label: Callable[[dict, bytes], tuple[str, list[str]]]) -> Counting:
    """Install the counting middleware on a Flask app (the documented `app.wsgi_app` wrapping)."""
    counting = Counting(app.wsgi_app, label)
    app.wsgi_app = counting
    return counting
