"""Helpers shared across test folders: polling with a deadline, and Debian's Chromium via Playwright."""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.services import REQUIRED

CHROMIUM = "/usr/bin/chromium"
# The project's rule for every browser test: Debian's chromium, never a downloaded browser.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def wait_for(check: Callable[[], Any], what: str = "condition", timeout: float = 10.0, poll: float = 0.05) -> Any:
    """Poll until `check()` is truthy (asynchronous delivery) and return it; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def take_queued(celery: Any, queue: str) -> list[tuple[str, tuple]]:
    """(task name, args) of every message waiting in the Celery app's `queue` (its suffix added), taken
    off it: for apps that run no worker, so what a request queued stays there for the test to read."""
    found = []
    with celery.connection_for_read() as connection:
        waiting = connection.SimpleQueue(queue + celery.queue_suffix, no_ack=True)
        while True:
            try:
                message = waiting.get(block=False)
            except waiting.Empty:
                return found
            found.append((message.headers["task"], tuple(message.decode()[0])))  # protocol 2: (args, kwargs, embed)


@contextmanager
def chromium(**context_options: Any) -> Iterator[Any]:
    """A fresh browser context in Debian's headless chromium (`make test` installs it)."""
    if not shutil.which(CHROMIUM):
        message = f"{CHROMIUM} is not installed (make test installs Debian's chromium)"
        pytest.fail(message) if REQUIRED else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_context(**context_options)
        finally:
            browser.close()
