"""Stored reasons in the reader's language: the workers store why a record or a run failed as an English sentence
(sync_failures.reason, received_events.last_error, a run's report failures and sync_runs.error), built from the
templates of workers/reasons.py; the page matches the stored sentence against those templates and shows the
translated template with the same values.

What stays as stored: the values (record names and ids, the vendors' own words: a QuickBooks Fault's Detail,
Bitrix24's error_description), and any text no template matches (vendor text, sentences of older versions):
half a translation would misquote it. A value that is one of the registry's PHRASES (a record kind, a fixed
clause) is translated on its own.
"""
from __future__ import annotations

import re
from functools import lru_cache

from flask_babel import gettext

from workers.reasons import ADDENDA, PHRASES, TEMPLATES

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def compiled(template: str) -> re.Pattern[str]:
    """The template as an anchored pattern: its words literally, each placeholder a lazy group (a name used
    twice must hold the same value both times)."""
    parts, seen, at = [], set(), 0
    for found in PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[at:found.start()]))
        name = found.group(1)
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        at = found.end()
    parts.append(re.escape(template[at:]))
    return re.compile(r"\A" + "".join(parts) + r"\Z", re.DOTALL)


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((template, compiled(template)) for template in TEMPLATES)


def localize_reason(text: str | None) -> str:
    """The stored sentence in the request's language; unchanged when no template (with its addenda) matches."""
    if not text:
        return text or ""
    localized = _sentence(text)
    return text if localized is None else localized


def _sentence(text: str) -> str | None:
    """A known sentence followed by addenda (" " + AGAIN …), or a template's sentence, translated; else None.

    Addenda first: a template ending in a placeholder (the vendor's words) would otherwise take them in."""
    for addendum in ADDENDA:
        if text.endswith(" " + addendum):
            head = _sentence(text[:-len(addendum) - 1])
            if head is not None:
                return f"{head} {gettext(addendum)}"
    for template, pattern in _patterns():
        found = pattern.match(text)
        if found:
            values = {name: _value(value) for name, value in found.groupdict().items()}
            return gettext(template) % values  # gettext() formats only when given values: a template may have none
    return None


def _value(value: str) -> str:
    return gettext(value) if value in PHRASES else value
