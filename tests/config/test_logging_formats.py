"""config/logging.py's lines: text with the records' context fields, or one JSON object a line
(LOG_FORMAT=json), secrets cut from messages and tracebacks in both, at LOG_LEVEL."""
from __future__ import annotations

import json
import logging
from logging.config import dictConfig

import pytest
from gunicorn.glogging import SafeAtoms

from config.logging import configure_logging, gunicorn_logconfig, stream_handler
from config.settings import ConfigError

# What a requests error says when Bitrix24's refresh (a GET, reference bitrix24.md §2) fails, and what
# an oauthlib error or a dict's repr may hold: none of these values may reach a log line.
CLIENT_SECRET, REFRESH, ACCESS, BEARER, APP_TOKEN, DB_PASSWORD = (
    "ClientSecret42", "RefreshTok42", "AccessTok42", "BearerTok42", "AppTok42", "DbPass42")
FAILURE = (f"401 Client Error: Unauthorized for url: https://oauth.bitrix.info/oauth/token/?grant_type=refresh_token"
           f"&client_id=local.x&client_secret={CLIENT_SECRET}&refresh_token={REFRESH} "
           f"body {{'access_token': '{ACCESS}', 'scope': 'crm'}} headers {{'Authorization': 'Bearer {BEARER}'}} "
           f"form auth[application_token]={APP_TOKEN}&auth[member_id]=m1 "
           f"dsn postgresql://qb24:{DB_PASSWORD}@db:5432/qb24 sql SELECT id FROM links WHERE b24_id = ?")
SECRETS = (CLIENT_SECRET, REFRESH, ACCESS, BEARER, APP_TOKEN, DB_PASSWORD)


@pytest.fixture
def emit(capsys):
    """Log through the process handler of a format on a logger of the test's own; the written lines."""
    logger = logging.getLogger("qb24.test.formats")
    logger.propagate, logger.level = False, logging.INFO

    def emit_with(log_format: str, log) -> list[str]:
        handler = stream_handler("stderr", log_format)
        logger.addHandler(handler)
        try:
            log(logger)
        finally:
            logger.removeHandler(handler)
        return capsys.readouterr().err.splitlines()

    yield emit_with


def _fail(logger: logging.Logger) -> None:
    try:
        raise RuntimeError(FAILURE)
    except RuntimeError:
        logger.exception("b24.refresh_failed", extra={"member_id": "m1", "realm_id": "9130347596326316"})


def test_a_text_line_carries_the_records_context(emit):
    lines = emit("text", lambda log: log.info("qbo.connected", extra={
        "member_id": "a1b2", "realm_id": "9130347596326316", "path": "/quickbooks/connect finish", "status": 303}))
    assert len(lines) == 1
    assert " INFO qb24.test.formats qbo.connected " in lines[0]
    assert lines[0].endswith('member_id=a1b2 realm_id=9130347596326316 path="/quickbooks/connect finish" status=303')


def test_a_json_line_parses_and_carries_the_records_context(emit):
    lines = emit("json", lambda log: log.info("app.settings.saved", extra={"member_id": "a1b2", "status": 303}))
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"] == "app.settings.saved" and record["level"] == "INFO"
    assert record["logger"] == "qb24.test.formats" and record["time"].endswith("+00:00")
    assert (record["member_id"], record["status"]) == ("a1b2", 303)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_are_cut_from_a_traceback(emit, log_format):
    lines = emit(log_format, _fail)
    output = "\n".join(lines)
    assert "Traceback (most recent call last)" in output and "RuntimeError: 401 Client Error" in output
    for secret in SECRETS:
        assert secret not in output
    # what is left still says what failed, and where
    assert "https://oauth.bitrix.info/oauth/token/ " in output and "auth[member_id]=m1" in output
    assert "WHERE b24_id = ?" in output  # SQL's placeholder is not a query string
    if log_format == "json":
        (record,) = [json.loads(line) for line in lines]
        assert record["member_id"] == "m1" and record["realm_id"] == "9130347596326316"
        assert "RuntimeError" in record["exc_info"]
    else:
        assert lines[0].endswith("b24.refresh_failed member_id=m1 realm_id=9130347596326316")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_are_cut_from_messages_and_context(emit, log_format):
    output = "\n".join(emit(log_format, lambda log: log.warning(
        "refresh answered %s", f"access_token={ACCESS}", extra={"error": f"Authorization: Bearer {BEARER}"})))
    assert ACCESS not in output and BEARER not in output
    assert "access_token=[redacted]" in output and "Bearer [redacted]" in output


@pytest.fixture
def root_logging():
    """configure_logging and dictConfig change the root logger: put it back after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_log_level_from_the_environment(monkeypatch, root_logging):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    configure_logging()
    assert root_logging.level == logging.WARNING
    monkeypatch.delenv("LOG_LEVEL")
    configure_logging()
    assert root_logging.level == logging.INFO  # the default: the app's events are INFO
    configure_logging("DEBUG")  # `qb24 --log-level` wins
    assert root_logging.level == logging.DEBUG
    assert sum(getattr(h, "_qb24", False) for h in root_logging.handlers) == 1  # replaced, not stacked


@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "LOUD"), ("LOG_FORMAT", "xml")])
def test_a_bad_log_setting_is_refused_by_name(monkeypatch, root_logging, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name} must be"):
        configure_logging()
    with pytest.raises(ConfigError, match=f"{name} must be"):
        gunicorn_logconfig()


def _access_record() -> logging.LogRecord:
    """gunicorn's access record (glogging.Logger.access) for the callback with a code and a state."""
    atoms = SafeAtoms({"h": "127.0.0.1", "m": "GET", "U": "/quickbooks/callback", "q": "code=C0DE&state=ST4TE",
                       "r": "GET /quickbooks/callback?code=C0DE&state=ST4TE HTTP/1.1", "s": "400", "M": 12, "b": "9", "H": "HTTP/1.1"})
    from config.gunicorn import access_log_format

    return logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, access_log_format, (atoms,), None)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_gunicorns_access_log_is_one_line_a_request(monkeypatch, capsys, root_logging, log_format):
    """Applied as gunicorn applies logconfig_dict (glogging.Logger.setup): one line on stdout a request,
    with method, path without query, status and duration, nothing of the query."""
    monkeypatch.setenv("LOG_FORMAT", log_format)
    access = logging.getLogger("gunicorn.access")
    saved = access.handlers[:], access.filters[:], access.propagate, access.level
    dictConfig(gunicorn_logconfig())
    try:
        access.handle(_access_record())
    finally:
        access.handlers[:], access.filters[:], access.propagate, access.level = saved
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "C0DE" not in lines[0] and "ST4TE" not in lines[0]
    if log_format == "json":
        record = json.loads(lines[0])
        assert (record["method"], record["path"], record["status"], record["duration_ms"]) == \
            ("GET", "/quickbooks/callback", 400, 12)
    else:  # today's line, as access_log_format makes it
        assert '"GET /quickbooks/callback HTTP/1.1" 400 9' in lines[0] and lines[0].endswith(" 12ms")
