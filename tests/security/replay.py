"""Replay the corpus against the world and judge every answer, the store, the logs and the headers."""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests

from tests.security.cases import ANON, REFUSED, Case
from tests.security.observe import Answer, changed, world_state
from tests.security.secrets_scan import Leak
from tests.security.world import World
from webhooks.confirm_limit import CONFIRM_BURST, CONFIRM_RATE

# group: (issue 8 item, the most app.info calls the whole group may cost). Item 8: forged frame
# POSTs must not each cost a call to Bitrix24; the burst has 40 requests from one address.
# app.info calls the forged burst may cost: the bucket's burst plus its refill over the whole run
# (the corpus takes well under 20 s; earlier frame POSTs from this address drew on the same bucket).
GROUP_BUDGETS: dict[str, tuple[int | None, int]] = {"app_info_burst": (8, CONFIRM_BURST + int(20 * CONFIRM_RATE))}
KINDS = ("accepted", "server_error", "refused_change", "secret", "header")


@dataclass
class Reply:
    status: int
    location: str | None
    text: str


@dataclass
class Outcome:
    """What one case did: the answer, the tables it changed beyond its allowance, app.info calls."""

    case: Case
    reply: Reply
    changed: frozenset[str]
    app_info_calls: int


@dataclass
class Violation:
    """One broken promise; `item` is the issue 8 item whose fix it awaits (None: none)."""

    kind: str
    item: int | None
    where: str
    detail: str = ""
    count: int = 1


def send(world: World, case: Case) -> Reply:
    """Send a case from its jar (a fresh cookie-less client for ANON), never following redirects."""
    path = world.fill(case.path)
    headers = {name: world.fill(value) for name, value in case.headers}
    body = world.fill(case.body) if isinstance(case.body, str) else case.body
    if case.sign_with is not None:
        covered = world.fill(case.signed_body) if case.signed_body is not None else body
        headers["intuit-signature"] = intuit_signature(world.fill(case.sign_with), covered or b"")
    if case.raw:
        return _send_raw(world.url, case.method, path, headers, body)
    data = [(world.fill(k), world.fill(v)) for k, v in case.form] or body
    session = requests.Session() if case.as_ == ANON else world.jar(case.as_)
    try:
        response = session.request(case.method, world.url + path, data=data, headers=headers,
                                   allow_redirects=False, timeout=30)
    finally:
        if case.as_ == ANON:
            session.close()
    return Reply(response.status_code, response.headers.get("Location"), response.text)


def intuit_signature(key: str, body: str | bytes) -> str:
    """What Intuit puts in `intuit-signature` (reference quickbooks-online.md §1.3)."""
    raw = body.encode() if isinstance(body, str) else body
    return base64.b64encode(hmac.new(key.encode(), raw, hashlib.sha256).digest()).decode()


def _send_raw(url: str, method: str, path: str, headers: dict[str, str], body: str | bytes | None) -> Reply:
    """http.client sends the path as written (requests would collapse `//` and `..`)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", headers.pop("Host", parts.netloc))
        payload = body.encode() if isinstance(body, str) else body or b""
        for name, value in {**headers, "Content-Length": str(len(payload))}.items():
            connection.putheader(name, value)
        connection.endheaders(payload)
        response = connection.getresponse()
        return Reply(response.status, response.getheader("Location"), response.read().decode("utf-8", "replace"))
    finally:
        connection.close()


def run(world: World, cases: list[Case]) -> list[Outcome]:
    """Each case between two snapshots of the world (after its preparation, after its request)."""
    outcomes: list[Outcome] = []
    before = world_state(world.engine, world.stack, world.tasks)
    for case in cases:
        if case.prepare:
            world.values.update(world.prepare(case.prepare))
            before = world_state(world.engine, world.stack, world.tasks)
        calls = world.calls.app_info
        reply = send(world, case)
        after = world_state(world.engine, world.stack, world.tasks)
        outcomes.append(Outcome(case, reply, changed(before, after) - case.may_change, world.calls.app_info - calls))
        before = after
    return outcomes


def _check_failures(world: World, outcome: Outcome) -> list[str]:
    failed = []
    for check in outcome.case.checks:
        name, _, arg = check.partition(":")
        if name == "location_on_app" and outcome.reply.location:
            target = urlsplit(urljoin(world.url + "/", outcome.reply.location))
            if target.netloc != urlsplit(world.url).netloc:
                failed.append(f"redirects to {target.netloc}")
        if name == "not_reflected" and arg in outcome.reply.text:
            failed.append(f"reflects {arg!r} unescaped")
    return failed


def judge(world: World, outcome: Outcome) -> list[Violation]:
    """The case's violations: accepted, answered >= 500, or refused yet changing the world."""
    case, status = outcome.case, outcome.reply.status
    where = f"{case.name} [{case.method} {case.path} as {case.as_}] -> {status}"
    found: list[Violation] = []
    if status >= 500:
        found.append(Violation("server_error", case.item, where, outcome.reply.text[:120]))
    effects = [f"changed {sorted(outcome.changed)}"] if outcome.changed else []
    effects += _check_failures(world, outcome)
    if effects or (case.expect == REFUSED and status < 400):
        found.append(Violation("accepted", case.item, where, "; ".join(effects) or "served"))
    if outcome.changed and status >= 400:
        found.append(Violation("refused_change", case.item, where, f"changed {sorted(outcome.changed)}"))
    if status == 429 and case.group is None:
        # Refused by the rate limit, not by the defence this case is about: it proves nothing.
        found.append(Violation("accepted", case.item, where, "rate-limited before its own check ran"))
    return found


def judge_groups(outcomes: list[Outcome]) -> list[Violation]:
    """A group over its budget counts one accepted request per app.info call beyond it."""
    found = []
    for group, (item, budget) in GROUP_BUDGETS.items():
        calls = sum(o.app_info_calls for o in outcomes if o.case.group == group)
        if calls > budget:
            found.append(Violation("accepted", item, f"group {group}", f"{calls} app.info calls, budget {budget}",
                                   calls - budget))
    return found


def judge_answers(answers: list[Answer]) -> list[Violation]:
    """Every answer of the app (setup included): nosniff (item 8) and a frame-ancestors policy."""
    found = []
    for answer in answers:
        where = f"{answer.method} {answer.path} -> {answer.status}"
        if (answer.header("X-Content-Type-Options") or "").lower() != "nosniff":
            found.append(Violation("header", 8, where, "no X-Content-Type-Options: nosniff"))
        if "frame-ancestors" not in (answer.header("Content-Security-Policy") or ""):
            found.append(Violation("header", None, where, "no frame-ancestors"))
    return found


def judge_leaks(leaks: list[Leak]) -> list[Violation]:
    return [Violation("secret", leak.item, leak.where, ", ".join(sorted(leak.kinds))) for leak in leaks]
