"""The world the corpus runs against: the stack, its browsers (cookie jars), the values cases name
(`${name}`), and the preparation steps (a fresh consent, a ticket) some cases need first."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import requests
from sqlalchemy.engine import Engine

from qb24.demo import finish_connect
from qb24.stack import Stack
from tests.security.observe import AppLogs, CallCounter, Recorder, TaskWatch
from tests.security.secrets_scan import Secrets

PLACEHOLDER = re.compile(r"\$\{([\w.]+)\}")
LINK_TOKEN = re.compile(r'id="login-token"[^>]*value="([^"]+)"')
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
TICKET = re.compile(r"data-ticket='([^']+)'")


@dataclass
class World:
    """The running stack and everything the corpus knows about it."""

    stack: Stack
    engine: Engine
    recorder: Recorder
    calls: CallCounter
    logs: AppLogs
    tasks: TaskWatch  # the exports accepted add events queue (waited for between cases)
    secrets: Secrets = field(default_factory=Secrets)
    jars: dict[str, requests.Session] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.stack.url

    def jar(self, name: str) -> requests.Session:
        """The named browser, created on first use."""
        if name not in self.jars:
            self.jars[name] = requests.Session()
        return self.jars[name]

    def fill(self, text: str) -> str:
        """`${name}` replaced by the world's value (a KeyError names a typo in the corpus)."""
        return PLACEHOLDER.sub(lambda m: self.values[m.group(1)], text)

    def remember_page(self, who: str, page: str) -> None:
        """Keep the page's CSRF token and, when it shows Log in, its link token."""
        csrf, token = CSRF.search(page), LINK_TOKEN.search(page)
        assert csrf, f"{who}: no CSRF token on the app page"
        self.values[f"{who}.csrf"] = unescape(csrf.group(1))
        if token:
            self.values[f"{who}.t"] = unescape(token.group(1))

    def consent(self, who: str, realm: str) -> dict[str, str]:
        """`who` clicks Log in (its link token) and approves `realm` in the sandbox's consent:
        the callback's code, state and realm, the state cookie now in `who`'s jar."""
        self.stack.qbo.control("settings", {"auto_approve_realm_id": self.values[realm]})
        start = self.jar(who).post(self.url + "/quickbooks/connect", data={"t": self.values[f"{who}.t"]},
                                   allow_redirects=False, timeout=15)
        assert start.status_code == 302, (who, start.status_code, start.text[:200])
        approved = requests.get(start.headers["Location"], allow_redirects=False, timeout=15)
        query = dict(parse_qsl(urlsplit(approved.headers["Location"]).query))
        return {"cb.code": query["code"], "cb.state": query["state"], "cb.realm": query["realmId"]}

    def callback(self, who: str, values: dict[str, str]) -> requests.Response:
        """The genuine callback of a consent, from the browser that started it."""
        return self.jar(who).get(self.url + "/quickbooks/callback", timeout=15, params={
            "code": values["cb.code"], "state": values["cb.state"], "realmId": values["cb.realm"]})

    def ticket(self, who: str, realm: str) -> str:
        """A consent walked through the callback: the ticket the framed page would claim."""
        done = self.callback(who, self.consent(who, realm))
        assert done.status_code == 200, (who, done.status_code, done.text[:200])
        return unescape(TICKET.search(done.text).group(1))

    def finish(self, who: str, ticket: str) -> requests.Response:
        page = self.jar(who).get(self.url + "/bitrix24/app", timeout=15).text
        return finish_connect(self.jar(who), self.url, page, ticket)

    def prepare(self, step: str) -> dict[str, str]:
        """Run a preparation step `kind:who:realm`; the values it adds for the case."""
        kind, who, realm = step.split(":")
        if kind == "consent":
            return self.consent(who, realm)
        if kind == "exchanged":  # a code already exchanged, beside a fresh state of the same browser
            used = self.consent(who, realm)
            assert self.callback(who, used).status_code == 200
            return {**self.consent(who, realm), "cb.code": used["cb.code"]}
        if kind == "ticket":
            return {"ticket": self.ticket(who, realm)}
        if kind == "used_ticket":
            ticket = self.ticket(who, realm)
            assert self.finish(who, ticket).status_code == 200
            return {"ticket": ticket}
        raise ValueError(f"unknown preparation {step!r}")

    def close(self) -> None:
        self.tasks.close()
        for jar in self.jars.values():
            jar.close()
        self.engine.dispose()
