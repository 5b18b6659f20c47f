"""Reading the project's Markdown as a reader would, and running the commands it marks as runnable.

A fenced ```sh block preceded by `<!-- runs-here: NAME -->` is one the test suite runs (the comment is
invisible on GitHub). Each file's runnable blocks are looked up by NAME, so every one has a test that
knows what it must do; a block nobody runs fails `test_every_runnable_block_has_a_runner`.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNNABLE = re.compile(r"<!-- runs-here: ([a-z-]+) -->\n```sh\n(.*?)\n```", re.S)
ENV_OUT = "QB24_DOC_ENV_OUT"


def runnable_blocks(path: Path) -> dict[str, str]:
    """NAME → the block's text, in the file's order; a NAME used twice is an error."""
    blocks: dict[str, str] = {}
    for name, text in RUNNABLE.findall(path.read_text(encoding="utf-8")):
        assert name not in blocks, f"{path.name}: two runnable blocks named {name!r}"
        blocks[name] = text
    return blocks


def clean_env(**extra: str) -> dict[str, str]:
    """A shell environment with none of qb24's settings: only what a fresh terminal has, the code of this
    checkout first on the import path (PYTHONPATH: the venv's `qb24` may be installed from another one)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    return {**keep, "PYTHONPATH": str(REPO), **extra}


Ran = tuple[subprocess.CompletedProcess, dict[str, str]]


def run_block(block: str, cwd: Path, env: dict[str, str], timeout: float = 60) -> Ran:
    """Run `block` in bash (stopping at the first failing command) in `cwd`; its result and the environment
    it left (what its `export`s set, for the blocks after it)."""
    env_file = cwd / ".block-env"
    script = f"set -euo pipefail\n{block}\nenv -0 > \"${ENV_OUT}\"\n"
    result = subprocess.run(["bash", "-c", script], cwd=cwd, env={**env, ENV_OUT: str(env_file)},
                            capture_output=True, text=True, timeout=timeout)
    left = {}
    if result.returncode == 0:
        pairs = env_file.read_bytes().decode().split("\0")
        left = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        left.pop(ENV_OUT, None)
        env_file.unlink()
    return result, left


def venv_here(cwd: Path) -> None:
    """`.venv` in `cwd` as `make demo`/`make test` leave it in a checkout: this interpreter's environment."""
    (cwd / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Forms(HTMLParser):
    """Every <form> of a page: its action and the values a browser would submit (hidden and text inputs,
    a select's first option)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": values.get("action", ""), "id": values.get("id", ""), "fields": {}})
        elif tag == "input" and self.forms and values.get("name"):
            if values.get("type", "text") in ("hidden", "text"):
                self.forms[-1]["fields"][values["name"]] = values.get("value", "")
        elif tag == "select" and self.forms:
            self._select = values.get("name")
        elif tag == "option" and self.forms and self._select:
            self.forms[-1]["fields"].setdefault(self._select, values.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces → hyphens,
    a repeated heading numbered (-1, -2 …)."""
    anchors: set[str] = set()
    for line in without_code(markdown).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", match.group(1)).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def without_code(markdown: str) -> str:
    """The text outside fenced code blocks (a link shown in code is not a link)."""
    return re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", markdown, flags=re.S | re.M)
