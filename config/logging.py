"""Process logging: one format, and library loggers that would print secrets kept quiet."""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

# At DEBUG, urllib3 logs full request lines: Bitrix24's refresh is a GET whose query string
# carries client_secret and refresh_token (reference §2), so it never logs below INFO here.
QUIET_LOGGERS = {"urllib3": logging.INFO, "requests_oauthlib": logging.INFO, "oauthlib": logging.INFO}
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


def strip_query(text: str) -> str:
    """`GET /quickbooks/callback?code=…&state=… HTTP/1.1` → `GET /quickbooks/callback HTTP/1.1`."""
    return _QUERY.sub("", text)


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


def configure_logging(level: str = "INFO") -> None:
    """Configure the root logger once for a CLI process (gunicorn and Celery bring their own)."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    quiet_secret_loggers()


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
