"""Show the forged-request corpus's numbers in the test output."""
from __future__ import annotations

from tests.security import summary


def pytest_terminal_summary(terminalreporter) -> None:
    if summary.LINES:
        terminalreporter.write_sep("-", "issue 8 forged-request corpus")
        for text in summary.LINES:
            terminalreporter.write_line(text)
