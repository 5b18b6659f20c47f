"""The README's "Run a stack by hand against `qb24 sandbox`", followed to the letter: its commands run as
written (on free ports instead of 8700/8800/8801/8000, which may be taken here), then its install steps
done as a browser does them on the sandbox portal's pages, the QuickBooks login on the sandbox's consent
page, and Start sync on the app page, until the records are in the portal."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from qb24.demo import finish_connect
from tests.docs.markdown_support import (REPO, Forms, clean_env, free_port, run_block, runnable_blocks,
                                         venv_here)
from tests.support import wait_for

README = REPO / "README.md"
SECTION = README.read_text(encoding="utf-8").split("## Run a stack by hand against `qb24 sandbox`", 1)[-1] \
    .split("\n## ", 1)[0]
DEFAULT_PORTS = (8700, 8800, 8801, 8000)  # QuickBooks sandbox, Bitrix24 OAuth server, portal, app
CLIENT_ID = "local.qb24sandbox.0000"


def on_ports(text: str, ports: dict[int, int]) -> str:
    """`text` with each of the README's ports (after `127.0.0.1:` or `-port `) moved to its free one."""
    return re.sub(r"(?<=127\.0\.0\.1:)(8700|8800|8801|8000)\b|(?<=-port )(\d+)",
                  lambda m: str(ports[int(m.group(0))]), text)  # KeyError: an option's port the README added


@contextmanager
def serving(command: str, cwd: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A README command that serves until stopped, in its own process group, which only this test
    started: SIGTERM to that group at the end."""
    with log.open("w") as out:
        process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def answers(url: str, process: subprocess.Popen, log: Path) -> bool:
    assert process.poll() is None, f"exited early:\n{log.read_text()}"
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def the_form(html: str, **match: str) -> dict:
    """The one form of a page whose attributes match."""
    forms = [form for form in Forms(html).forms if all(form[k] == v for k, v in match.items())]
    assert len(forms) == 1, f"expected one form {match} in:\n{html[:2000]}"
    return forms[0]


def open_in_frame(browser: requests.Session, portal_page: str) -> requests.Response:
    """What the portal page's script does: POST its hidden form (query in the action) into the iframe."""
    form = the_form(portal_page, id="app-form")
    return browser.post(unescape(form["action"]), data=form["fields"], timeout=30)


def install(browser: requests.Session, portal: str, handler_url: str) -> str:
    """Steps 1-2: the applications page's Install form, the installer in the frame, its installFinish; the
    app page the portal then opens."""
    installing = browser.post(portal + "/marketplace/install/", timeout=30,
                              data={"handler_url": handler_url, "client_id": CLIENT_ID, "user_id": "1"})
    assert installing.status_code == 200, installing.text
    installer = open_in_frame(browser, installing.text)
    assert installer.status_code == 200 and "BX24.installFinish()" in installer.text, installer.text[:500]
    action = unescape(the_form(installing.text, id="app-form")["action"])
    app_sid = parse_qs(urlsplit(action).query)["APP_SID"][0]
    browser.post(f"{portal}/marketplace/finish/{app_sid}", timeout=30).raise_for_status()  # installFinish()
    opened = browser.get(f"{portal}/marketplace/app/{CLIENT_ID}/", timeout=30)
    page = open_in_frame(browser, opened.text)
    assert page.status_code == 200 and 'id="login-token"' in page.text, page.text[:1000]
    return page.text


def log_in_to_quickbooks(browser: requests.Session, app: str, page: str) -> None:
    """Step 3's Log in: the app's connect form, the sandbox's consent page and its Connect button, the
    callback; then what the app page's script does with the callback's ticket."""
    token = the_form(page, action="/quickbooks/connect")["fields"]["t"]
    consent = browser.post(app + "/quickbooks/connect", data={"t": token}, timeout=30)
    assert "Connect" in consent.text and consent.url.startswith("http://127.0.0.1:"), consent.text[:500]
    form = the_form(consent.text, action="/connect/oauth2")
    callback = browser.post(consent.url.split("/connect/")[0] + form["action"], timeout=30,
                            data={**form["fields"], "action": "connect"})
    ticket = re.search(r"data-ticket='([^']+)'", callback.text)
    assert callback.status_code == 200 and ticket, callback.text[:500]
    finished = finish_connect(browser, app, page, unescape(ticket.group(1)))
    assert finished.status_code == 200, finished.text


def start_sync(browser: requests.Session, app: str) -> dict:
    """Step 3's Start sync, followed as the page follows it."""
    page = browser.get(app + "/bitrix24/app", timeout=30).text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)
    started = browser.post(app + "/bitrix24/app/sync", timeout=30,
                           data={"csrf_token": unescape(csrf), "mode": "full"})
    assert started.status_code == 200 and "Sync queued." in started.text

    def over() -> dict | None:
        progress = browser.get(app + "/bitrix24/app/progress", timeout=30).json()
        return progress if progress["status"] not in ("pending", "running") else None

    return wait_for(over, "the first sync to finish", timeout=120, poll=0.5)


def test_the_readme_runs_a_stack_by_hand_against_qb24_sandbox(tmp_path: Path) -> None:
    blocks = runnable_blocks(README)
    assert list(blocks) == ["sandbox", "env", "web", "check"]
    ports = {port: free_port() for port in DEFAULT_PORTS}
    qbo, portal, app = (f"http://127.0.0.1:{ports[p]}" for p in (8700, 8801, 8000))
    venv_here(tmp_path)
    shell = clean_env()

    with serving(on_ports(blocks["sandbox"], ports), tmp_path, shell, tmp_path / "sandbox.log") as sandboxes:
        wait_for(lambda: answers(portal + "/", sandboxes, tmp_path / "sandbox.log"), "the sandbox portal", 30)
        configured, env = run_block(on_ports(blocks["env"], ports), tmp_path, shell)
        assert configured.returncode == 0, configured.stderr
        assert "database is at the newest revision" in configured.stdout
        assert env["APP_BASE_URL"] == app and (tmp_path / "var" / "hand-run.db").exists()

        with serving(on_ports(blocks["web"], ports), tmp_path, env, tmp_path / "web.log") as web:
            wait_for(lambda: answers(app + "/healthz", web, tmp_path / "web.log"), "qb24 web", 30)
            checked, _ = run_block(on_ports(blocks["check"], ports), tmp_path, env)
            assert checked.returncode == 0, checked.stderr
            health, hooks = (json.loads(line) for line in checked.stdout.splitlines())
            assert health["status"] == "ok" and hooks["url"] == app + "/webhooks/quickbooks"

            browser = requests.Session()
            handler_url = app + "/bitrix24/install"
            assert on_ports("`http://127.0.0.1:8000/bitrix24/install`", ports) == f"`{handler_url}`"
            assert "http://127.0.0.1:8000/bitrix24/install" in SECTION and f"`{CLIENT_ID}`" in SECTION
            page = install(browser, portal, handler_url)
            log_in_to_quickbooks(browser, app, page)
            progress = start_sync(browser, app)
            assert progress["status"] == "done", progress
            contacts = requests.get(portal + "/crm/contact/list/", timeout=30).text
            assert contacts.count("<tr") > 10, contacts[:500]  # the sample company's people, imported

    printed = (tmp_path / "sandbox.log").read_text()
    for label in ("portal", "applications page", "BX24 JS library"):
        assert re.search(rf"{label}\s+{portal}/", printed), printed
    assert f"{portal}/marketplace/" in on_ports(SECTION, ports)
