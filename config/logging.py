"""Process logging: one configuration for gunicorn, Celery and the CLI, as text or JSON lines,
with secrets cut from every line and library loggers that would print them kept quiet.

Every process kind installs the same handlers (`stream_handler`): gunicorn through `logconfig_dict`
(config/gunicorn.py, `gunicorn_logconfig`), `celery worker`/`celery beat` through Celery's
`setup_logging` signal (workers/celery_app.py), the `qb24` command through `configure_logging`.
LOG_FORMAT (text | json) and LOG_LEVEL are read from the environment here, since gunicorn
configures logging before the app reads its settings.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from config.settings import ConfigError, _log_format

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# At DEBUG, urllib3 logs full request lines: Bitrix24's refresh is a GET whose query string
# carries client_secret and refresh_token (reference §2), so it never logs below INFO here.
QUIET_LOGGERS = {"urllib3": logging.INFO, "requests_oauthlib": logging.INFO, "oauthlib": logging.INFO,
                 # not secret, only chatty: alembic announces each of its plugins at INFO when imported
                 "alembic.runtime.plugins": logging.WARNING}
# The servers' access and error logs print request lines and URLs, and QuickBooks' callback
# carries the authorization code and the state in its query (reference quickbooks-online.md §7):
# every query is cut from what these loggers print. werkzeug: the development server (`qb24 web`,
# the demo, tests); gunicorn: production (its access log format, config/gunicorn.py, has no query
# either; this also covers an operator's own format with %(r)s or %(q)s).
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")
_QUERY = re.compile(r"\?[^\s\"'\x1b]*")
# gunicorn's atoms that hold a query (glogging.Logger.atoms): the query string itself.
_QUERY_ATOMS = ("q", "{query_string}e")
_FORMAT_KEY = re.compile(r"%\(([^()]*)\)")

# What an exception's text (or any line) may carry: a URL's query with key=value pairs (a requests
# error names the URL it asked: Bitrix24's refresh has client_secret and refresh_token in it),
# OAuth values in a form body or a dict's repr, an Authorization header, a password in a
# connection URL. The URL query rule wants a path character before the "?", so SQL's "= ?" stays.
_URL_QUERY = re.compile(r"(?<=[\w/.~%-])\?(?=[^\s\"'<>]*=)[^\s\"'<>\x1b]*")
_SECRET_VALUE = re.compile(
    r"(?i)(\b(?:access_token|refresh_token|client_secret|application_token|id_token)\]?[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s&\"',;)}\]]+")
_AUTHORIZATION = re.compile(r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic)\s+|\bbearer\s+)[^\s\"',;}]+")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s/@]+@", re.IGNORECASE)
REDACTED = "[redacted]"

# A record's own attributes; anything else on it came from `extra={...}` and is its context.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def strip_query(text: str) -> str:
    """`GET /quickbooks/callback?code=…&state=… HTTP/1.1` → `GET /quickbooks/callback HTTP/1.1`."""
    return _QUERY.sub("", text)


def redact_secrets(text: str) -> str:
    """Cut URL queries, OAuth token and secret values, Authorization credentials and URL passwords."""
    text = _URL_QUERY.sub("", text)
    text = _SECRET_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + REDACTED + "@", text)


def _redacted(value: Any, key: str = "") -> Any:
    if not isinstance(value, str):
        return value
    return "-" if key.lower() in _QUERY_ATOMS else strip_query(value)


class QueryRedactingFilter(logging.Filter):
    """Cut query strings from a record's message and arguments (a tuple, or gunicorn's atoms dict)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redacted(record.msg)
        if isinstance(record.args, Mapping):
            # Only the atoms the format prints (gunicorn passes ~70, each line): in place, as gunicorn's
            # SafeAtoms answers "-" for unknown keys and looks `{header}i` keys up in lower case.
            for key in _printed(record.msg, record.args):
                dict.__setitem__(record.args, key, _redacted(dict.__getitem__(record.args, key), str(key)))
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        return True


def _printed(message: Any, args: Mapping) -> list:
    """The keys of `args` a %-format message reads; every key when the message is not a plain string."""
    keys = _format_keys(message) if isinstance(message, str) else None
    if keys is None:
        return list(args)
    return [key for key in keys if key in args]


@lru_cache(maxsize=64)
def _format_keys(message: str) -> tuple[str, ...] | None:
    if message.count("%(") != len(_FORMAT_KEY.findall(message)):
        return None  # a key with parentheses in it: redact them all rather than parse it
    return tuple({name: None for key in _FORMAT_KEY.findall(message) for name in (key, key.lower())})


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    """The record's `extra={...}` fields (member_id, realm_id, path, status, task, …)."""
    return {key: value for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not _celery_data(record, key)}


def _celery_data(record: logging.LogRecord, key: str) -> bool:
    """Celery's task lines carry `extra={"data": …}`, the dict their message was made from (celery.app.trace):
    printed again it would repeat a failure's traceback and show the task's arguments."""
    return key == "data" and record.name.startswith("celery.")


class CeleryTaskFilter(logging.Filter):
    """Name the Celery task a record was logged in (`task`, `task_id`), as Celery's own task format does."""

    def filter(self, record: logging.LogRecord) -> bool:
        from celery import current_task  # the web process logs outside any task: nothing is added

        task = current_task._get_current_object()
        if task is not None and getattr(task.request, "id", None) and not hasattr(record, "task"):
            record.task, record.task_id = task.name, task.request.id
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message key=value …`, then the traceback; secrets cut from all of it."""

    def __init__(self, fmt: str = TEXT_FORMAT, datefmt: str | None = None, *, context: bool = True) -> None:
        super().__init__(fmt, datefmt)
        self.context = context

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        if not self.context:
            return line
        return " ".join([line, *(f"{key}={_text_value(value)}" for key, value in context_of(record).items())])

    def format(self, record: logging.LogRecord) -> str:
        return redact_secrets(super().format(record))


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if not text or re.search(r"[\s\"=]", text) else text


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message, the context fields, `exc_info`; secrets cut.
    gunicorn's access lines also get method, path (no query), status and duration_ms as fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        if _celery_data(record, "data"):
            log_data.pop("data", None)
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            atoms = record.args  # gunicorn glogging.Logger.atoms: m method, U path, s status, M milliseconds
            log_data.update(method=atoms.get("m"), path=atoms.get("U"), status=_number(atoms.get("s")),
                            duration_ms=atoms.get("M"))

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: _redacted_value(value) for key, value in log_data.items()}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _redacted_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, (list, tuple)):
        return [_redacted_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted_value(item) for key, item in value.items()}
    return value


class _LiveStreamHandler(logging.StreamHandler):
    """A handler on sys.stdout or sys.stderr as they are when a line is written (a test harness or
    Celery may swap them after logging is configured)."""

    def __init__(self, stream_name: str) -> None:
        self.stream_name = stream_name
        super().__init__()

    @property
    def stream(self) -> Any:
        return getattr(sys, self.stream_name)

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def stream_handler(stream: str = "stderr", log_format: str | None = None, *, access: bool = False) -> logging.Handler:
    """The handler every process logs through: text or JSON (LOG_FORMAT), secrets cut, the Celery task named.
    `access`: gunicorn's access log, whose text lines stay as its access_log_format made them."""
    log_format = log_format or log_format_from_env()
    handler = _LiveStreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(TextFormatter("%(message)s", context=False) if access else TextFormatter())
    handler.addFilter(CeleryTaskFilter())
    handler._qb24 = True  # type: ignore[attr-defined]  # configure_logging replaces only its own
    return handler


def log_format_from_env(env: Mapping[str, str] | None = None) -> str:
    """LOG_FORMAT, validated as config.settings does: text (the default) or json."""
    return _log_format(os.environ if env is None else env)


def log_level_from_env(env: Mapping[str, str] | None = None, default: str = "INFO") -> str:
    """LOG_LEVEL (DEBUG, INFO, WARNING, ERROR or CRITICAL), or `default` when it is not set."""
    env = os.environ if env is None else env
    value = (env.get("LOG_LEVEL") or "").strip().upper() or default.upper()
    if value not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {env['LOG_LEVEL']!r}")
    return value


def gunicorn_logconfig(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: the app's loggers and gunicorn's error log on stderr, the access log
    on stdout, all through `stream_handler`. gunicorn.error keeps gunicorn's own --log-level."""
    log_format = log_format_from_env(env)
    handler = {"()": "config.logging.stream_handler", "log_format": log_format}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"query": {"()": "config.logging.QueryRedactingFilter"}},
        "handlers": {"app": {**handler, "stream": "stderr"},
                     "access": {**handler, "stream": "stdout", "access": True}},
        "root": {"level": log_level_from_env(env), "handlers": ["app"]},
        "loggers": {
            "gunicorn.error": {"handlers": ["app"], "propagate": False, "filters": ["query"]},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False, "filters": ["query"]},
            **{name: {"level": logging.getLevelName(floor)} for name, floor in QUIET_LOGGERS.items()},
        },
    }


def configure_logging(level: str | int | None = None) -> None:
    """Log every record of `level` (default LOG_LEVEL, else INFO) and above to stderr through
    `stream_handler`; called again, it replaces its handler (a test harness's handlers stay)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_qb24", False)]:
        root.removeHandler(handler)
    root.addHandler(stream_handler("stderr"))
    root.setLevel(_level(level))
    quiet_secret_loggers()


def configure_celery_logging(loglevel: int | str | None = None, **_signal: Any) -> None:
    """Celery's `setup_logging` receiver (`celery worker`, `celery beat`): this module's handlers instead of
    Celery's, at LOG_LEVEL when set, else at --loglevel. Celery's own lines (a task received, succeeded,
    failed) reach the root logger like the app's; records logged inside a task name it (CeleryTaskFilter)."""
    fallback = logging.getLevelName(loglevel) if isinstance(loglevel, int) else (loglevel or "WARNING")
    configure_logging(log_level_from_env(default=str(fallback)))


def _level(level: str | int | None) -> str | int:
    if isinstance(level, int):
        return level  # Celery's --loglevel, already a number
    if level is None:
        return log_level_from_env()
    name = level.strip().upper()
    if name not in LOG_LEVELS:
        raise ConfigError(f"the log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return name


def quiet_secret_loggers() -> None:
    """Floor the loggers that print request URLs at DEBUG, and cut queries from access logs,
    whoever configured logging.

    Each logger gets a level and a filter of its own, so a root logger set to DEBUG later cannot
    lower it, and a handler added later (werkzeug adds its own) still gets filtered records.
    """
    for name, floor in QUIET_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logger.level))
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryRedactingFilter) for f in logger.filters):
            logger.addFilter(QueryRedactingFilter())
