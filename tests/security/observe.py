"""What the forged-request corpus watches: every answer of the app, every log record the app's
request threads emit, the app.info calls it makes, and the world (store + QuickBooks grants)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from celery.signals import before_task_publish, task_postrun
from sqlalchemy import select
from sqlalchemy.engine import Engine

from qb24.stack import Stack
from store.events import B24_ADD
from store.models import Base, QboRevocation, ReceivedEvent
from tests.support import wait_for

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]
QBO_SANDBOX_KEY = "qbo_sandbox"  # sandbox/quickbooks/context.py EXTENSION_KEY


@dataclass
class Answer:
    """One response of the app, as it left the WSGI app."""

    method: str
    path: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes = field(repr=False)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace") + "\n" + repr(self.headers)


class Recorder:
    """WSGI middleware around the app: keeps every answer and marks the thread serving it, so log
    records are told apart from the sandboxes' (they run in the same process, other threads)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app, self.answers, self._local = app, [], threading.local()

    def serving(self) -> bool:
        return getattr(self._local, "active", False)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        self._local.active = True
        seen: dict[str, Any] = {}

        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            seen.update(status=int(status.split()[0]), headers=list(headers))
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            self._local.active = False
            raise
        return _Tee(self, environ, body, seen)

    def finished(self, answer: Answer) -> None:
        self.answers.append(answer)
        self._local.active = False


class _Tee:
    """The app's body passed through and kept; closed by werkzeug after the last write (and the
    access log line), so the serving mark lasts until then, even for an empty body."""

    def __init__(self, recorder: Recorder, environ: dict, body: Iterable[bytes], seen: dict) -> None:
        self.recorder, self.environ, self.body, self.seen, self.chunks = recorder, environ, body, seen, []

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.chunks.append(chunk)
            yield chunk

    def close(self) -> None:
        getattr(self.body, "close", lambda: None)()
        self.recorder.finished(Answer(self.environ["REQUEST_METHOD"], self.environ.get("PATH_INFO", ""),
                                      self.seen.get("status", 0), self.seen.get("headers", []),
                                      b"".join(self.chunks)))


@dataclass
class LogLine:
    """A log record's whole text (message, fields, exception) and its logger."""

    logger: str
    text: str


class AppLogs(logging.Handler):
    """Every record at DEBUG emitted by the app: in a thread serving it, or on a qb24.* logger."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.DEBUG)
        self.recorder, self.lines = recorder, []

    def emit(self, record: logging.LogRecord) -> None:
        if not (self.recorder.serving() or record.name.startswith("qb24")):
            return
        try:
            message = record.getMessage()
        except Exception:  # a malformed record still gets scanned through its raw fields
            message = str(record.msg)
        extra = logging.Formatter().formatException(record.exc_info) if record.exc_info else ""
        self.lines.append(LogLine(record.name, f"{message} {record.__dict__!r} {extra}"))

    def attach(self) -> Callable[[], None]:
        """Capture at DEBUG on the root logger; returns the undo."""
        root, level = logging.getLogger(), logging.getLogger().level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)

        def detach() -> None:
            root.removeHandler(self)
            root.setLevel(level)
        return detach


class CallCounter:
    """WSGI middleware on the Bitrix24 OAuth server counting the app.info calls it answers."""

    def __init__(self, app: WsgiApp) -> None:
        self.app, self.app_info, self._lock = app, 0, threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/rest/app.info"):
            with self._lock:
                self.app_info += 1
        return self.app(environ, start_response)


class TaskWatch:
    """Tasks of `names` the app queued that its in-process worker has not finished yet (Celery's signals,
    process-wide). An accepted add event's export (workers/exports.py) changes received_events after the
    answer: waiting for it keeps that change with the case that caused it, not the case replayed next."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names, self.unfinished, self._lock = names, 0, threading.Lock()
        before_task_publish.connect(self._published, weak=False)
        task_postrun.connect(self._finished, weak=False)

    def _published(self, sender: str | None = None, **_: Any) -> None:
        if sender in self.names:
            with self._lock:
                self.unfinished += 1

    def _finished(self, sender: Any = None, **_: Any) -> None:
        if getattr(sender, "name", None) in self.names:
            with self._lock:
                self.unfinished -= 1

    def settled(self) -> bool:
        return self.unfinished <= 0

    def close(self) -> None:
        before_task_publish.disconnect(self._published)
        task_postrun.disconnect(self._finished)


def instrument(stack: Stack) -> tuple[Recorder, CallCounter]:
    """Wrap the app's and the OAuth server's WSGI callables (werkzeug reads `server.app` per request)."""
    recorder = Recorder(stack.server.server.app)
    stack.server.server.app = recorder
    oauth_server = stack.b24._oauth.server  # the sandbox keeps no public handle on its listener
    counter = CallCounter(oauth_server.app)
    oauth_server.app = counter
    return recorder, counter


def qbo_state(stack: Stack) -> Any:
    """The QuickBooks sandbox's state (grants, codes, tokens), read in-process."""
    return stack.qbo.server.server.app.extensions[QBO_SANDBOX_KEY].state


def world_state(engine: Engine, stack: Stack, tasks: TaskWatch | None = None) -> dict[str, list]:
    """Every row of every table, plus the grants still live at (sandbox) Intuit as `qbo_grants`, once the
    worker has handled the QuickBooks revocations requests queued (workers/revocations.py), the Bitrix24
    add events accepted (workers/exports.py: it marks them handled a moment after the request's answer) and
    the tasks `tasks` watches."""
    wait_for(lambda: _no_revocations(engine), "the queued QuickBooks revocations to be handled")
    wait_for(lambda: _no_unhandled_adds(engine), "the accepted Bitrix24 add events to be handled")
    if tasks is not None:
        wait_for(tasks.settled, f"the queued {sorted(tasks.names)} to be handled")
    with engine.connect() as db:
        state = {table.name: sorted(tuple(map(repr, row)) for row in db.execute(select(table)))
                 for table in Base.metadata.sorted_tables}
    grants = qbo_state(stack).grants
    with qbo_state(stack).lock:
        state["qbo_grants"] = sorted(g.grant_id for g in grants.grants.values() if not g.revoked)
    return state


def _no_unhandled_adds(engine: Engine) -> bool:
    with engine.connect() as db:
        return db.execute(select(ReceivedEvent.id).where(*B24_ADD).limit(1)).first() is None


def _no_revocations(engine: Engine) -> bool:
    with engine.connect() as db:
        return db.execute(select(QboRevocation.id).limit(1)).first() is None


def changed(before: dict[str, list], after: dict[str, list]) -> frozenset[str]:
    """The tables (and `qbo_grants`) whose contents differ."""
    return frozenset(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
