"""Every secret the stack knows, and where one shows up in an answer or a log record of the app."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from qb24.stack import Stack
from tests.security.observe import Answer, LogLine, qbo_state

# Item 8: the OAuth code and state never reach the access log.
ACCESS_LOG_KINDS = frozenset({"qbo oauth code", "qbo oauth state"})
SHORTEST = 12  # shorter strings would match by chance; every real secret here is longer
EVENT_TOKENS = {"auth[access_token]": "b24 access token", "auth[refresh_token]": "b24 refresh token",
                "auth[application_token]": "b24 application token"}


@dataclass
class Secrets:
    """`everywhere`: never in an answer or a log; `in_logs`: handed to browsers by design (OAuth
    state, link tokens, tickets, CSRF tokens) but never written to a log."""

    everywhere: dict[str, str] = field(default_factory=dict)
    in_logs: dict[str, str] = field(default_factory=dict)

    def add(self, value: str | None, kind: str, logs_only: bool = False) -> None:
        if value and len(value) >= SHORTEST:
            (self.in_logs if logs_only else self.everywhere).setdefault(value, kind)


@dataclass
class Leak:
    """A secret found in an answer or a log line."""

    where: str
    kinds: frozenset[str]
    item: int | None


def harvest(stack: Stack, secrets: Secrets) -> None:
    """Configuration secrets, every Bitrix24 and QuickBooks token the sandboxes issued so far."""
    settings = stack.settings
    for value, kind in ((settings.secret_key, "SECRET_KEY"), (settings.qbo_client_secret, "qbo client secret"),
                        (settings.b24_client_secret, "b24 client secret"),
                        (settings.qbo_verifier_token, "qbo verifier token")):
        secrets.add(value, kind)
    for key in settings.token_encryption_key.split(","):
        secrets.add(key.strip(), "TOKEN_ENCRYPTION_KEY")
    _harvest_b24(stack, secrets)
    qbo = qbo_state(stack)
    with qbo.lock:
        for token in list(qbo.grants.access):
            secrets.add(token, "qbo access token")
        for token in list(qbo.grants.refresh):
            secrets.add(token, "qbo refresh token")
        for code in list(qbo.grants.codes):
            secrets.add(code, "qbo oauth code", logs_only=True)
        for app in qbo.grants.apps.values():
            secrets.add(app.client_secret, "qbo client secret")


def _harvest_b24(stack: Stack, secrets: Secrets) -> None:
    state = stack.b24.state
    with state.lock:
        for token in list(state.tokens.values()):
            secrets.add(token.access_token, "b24 access token")
            secrets.add(token.refresh_token, "b24 refresh token")
        for portal in state.portals.values():
            for install in portal.installs.values():
                secrets.add(install.application_token, "b24 application token")
        for app in state.apps.values():
            secrets.add(app.client_secret, "b24 client secret")
        bodies = [event.body for event in state.sent_events]
    for body in bodies:  # ONAPPINSTALL carries tokens Bitrix24 later revokes (uninstall)
        for name, value in parse_qsl(body):
            if name in EVENT_TOKENS:
                secrets.add(value, EVENT_TOKENS[name])


LINK_TOKEN = re.compile(r'id="login-token"[^>]*value="([^"]+)"')
TICKET = re.compile(r"data-ticket='([^']+)'")
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
CONNECT_TOKEN = re.compile(r'"connect_token":\s*"([^"]+)"')


def harvest_answers(answers: list[Answer], secrets: Secrets) -> None:
    """What the app hands browsers on purpose and must never log: states, link tokens, tickets, CSRF."""
    for answer in answers:
        text = answer.body.decode("utf-8", "replace")
        for pattern, kind in ((LINK_TOKEN, "link token"), (TICKET, "connect ticket"), (CSRF, "csrf token"),
                              (CONNECT_TOKEN, "link token")):
            for value in pattern.findall(text):
                secrets.add(value, kind, logs_only=True)
        location = answer.header("Location") or ""
        for name, value in parse_qsl(urlsplit(location).query):
            if name == "state":
                secrets.add(value, "qbo oauth state", logs_only=True)
            if name == "code":
                secrets.add(value, "qbo oauth code", logs_only=True)


class _Matcher:
    """One pass per text over every secret of a table (hundreds of tokens, thousands of texts)."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        ordered = sorted(table, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def kinds(self, text: str) -> set[str]:
        return {self.table[m] for m in self.pattern.findall(text)} if self.pattern else set()


def leaks(answers: list[Answer], lines: list[LogLine], secrets: Secrets) -> list[Leak]:
    """Every answer holding a secret, every log line holding a secret or a logs-only secret."""
    everywhere, in_logs = _Matcher(secrets.everywhere), _Matcher(secrets.in_logs)
    found: list[Leak] = []
    for answer in answers:
        kinds = everywhere.kinds(answer.text())
        if kinds:
            found.append(Leak(f"answer {answer.method} {answer.path} {answer.status}", frozenset(kinds), None))
    for line in lines:
        kinds = everywhere.kinds(line.text) | in_logs.kinds(line.text)
        if kinds:
            item = 8 if kinds <= ACCESS_LOG_KINDS else None
            found.append(Leak(f"log {line.logger}: {line.text[:160]!r}", frozenset(kinds), item))
    return found
