"""Every user-facing string the app marks for translation has a German and a Russian translation,
and the compiled catalogs the app reads (.mo) match the translators' catalogs (.po).

A string added to a template or a page without a translation fails here, naming the string and the
language; `make translations` merges new strings into the catalogs for translators.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from webhooks.i18n import DEFAULT_LANGUAGE, LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = ROOT / "webhooks" / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None,
            "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}
TRANSLATED = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]


def marked_strings(root: Path) -> dict[str, str]:
    """msgid → where it is, for every string babel.cfg's extractors find under `root`."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(root), method_map, options_map, keywords=KEYWORDS):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def untranslated(found: dict[str, str], catalog_path: Path) -> list[str]:
    """The marked strings the catalog lacks, or holds empty or fuzzy (a guess nobody checked)."""
    with open(catalog_path, "rb") as handle:
        catalog = read_po(handle)
    missing = []
    for msgid, where in found.items():
        entry = catalog.get(msgid)
        strings = entry.string if entry is not None else None
        forms = strings if isinstance(strings, (tuple, list)) else (strings,)
        if entry is None or entry.fuzzy or not all(forms):
            missing.append(f"{msgid!r} ({where})")
    return missing


def hashable(text: str | tuple | list) -> str | tuple:
    """A message's id or string; a plural's forms as a tuple (read_po gives tuples, read_mo lists)."""
    return tuple(text) if isinstance(text, (tuple, list)) else text


def po_path(language: str) -> Path:
    return CATALOGS / language / "LC_MESSAGES" / "messages.po"


def test_the_app_marks_strings_for_translation():
    assert len(marked_strings(ROOT)) > 0


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_marked_string_is_translated(language):
    missing = untranslated(marked_strings(ROOT), po_path(language))
    assert not missing, f"{len(missing)} strings have no {language} translation:\n" + "\n".join(missing)


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders(language):
    with open(po_path(language), "rb") as handle:
        catalog = read_po(handle)
    problems = [f"{message.id!r}: {error}" for message, errors in catalog.check() for error in errors]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_is_the_translators_catalog(language):
    with open(po_path(language), "rb") as handle:
        source = {hashable(m.id): hashable(m.string) for m in read_po(handle) if m.id and not m.fuzzy and m.string}
    with open(po_path(language).with_suffix(".mo"), "rb") as handle:
        compiled = {hashable(m.id): hashable(m.string) for m in read_mo(handle) if m.id}
    assert compiled == source, "run `make translations` and commit the .mo files"


def test_a_template_string_without_a_translation_fails_the_check(tmp_path):
    """The check itself: a new string in a template is found and reported as missing."""
    templates = tmp_path / "webhooks" / "templates"
    templates.mkdir(parents=True)
    (templates / "new.html").write_text('<p>{{ _("A sentence nobody translated yet") }}</p>')
    found = marked_strings(tmp_path)
    assert "A sentence nobody translated yet" in found
    assert untranslated(found, po_path("de")) == [
        "'A sentence nobody translated yet' (webhooks/templates/new.html:1)"]
