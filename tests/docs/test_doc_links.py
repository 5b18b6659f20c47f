"""Every relative link in README.md and docs/*.md leads to a file of this repository, and every
`#anchor` to a heading of its target (issue 12: the docs must not point outside the checkout)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.markdown_support import REPO, heading_anchors, without_code

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto: …


def links(markdown: str) -> list[str]:
    text = re.sub(r"`[^`\n]*`", "", without_code(markdown))  # nor is one in inline code
    return INLINE.findall(text) + REFERENCE.findall(text)


def broken(source: Path, target: str) -> str | None:
    """Why `target` (as written in `source`) does not resolve, or None."""
    path_part, _, anchor = target.partition("#")
    resolved = (source.parent / path_part).resolve() if path_part else source
    if not resolved.is_relative_to(REPO):
        return f"{target} leaves the repository"
    if not resolved.exists():
        return f"{target}: no such file {resolved.relative_to(REPO)}"
    headings = heading_anchors(resolved.read_text(encoding="utf-8")) if resolved.suffix == ".md" else set()
    if anchor and resolved.suffix == ".md" and anchor not in headings:
        return f"{target}: no heading with the anchor #{anchor} in {resolved.relative_to(REPO)}"
    return None


@pytest.mark.parametrize("source", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_inside_the_repository(source: Path) -> None:
    found = [target for target in links(source.read_text(encoding="utf-8")) if not EXTERNAL.match(target)]
    problems = [why for target in found if (why := broken(source, target))]
    assert not problems, f"{source.name}: " + "; ".join(problems)


def test_the_checker_finds_what_is_broken(tmp_path: Path) -> None:
    """The checks themselves: a missing file, a missing anchor, a path out of the checkout, while links in
    code and external ones are left alone."""
    page = REPO / "docs" / "page.md"  # never written: only its directory matters
    assert broken(page, "architecture.md") is None
    assert broken(page, "../README.md#configuration") is None
    assert broken(page, "deploy.md#4-create-env") is None
    assert "no such file" in broken(page, "nowhere.md")
    assert "no heading" in broken(page, "../README.md#no-such-section")
    assert "leaves the repository" in broken(page, "../../shared/DESIGN.md")
    sample = "[a](x.md) `[b](y.md)` [c](https://example.com)\n```\n[d](z.md)\n```\n[e]: f.md\n"
    assert links(sample) == ["x.md", "https://example.com", "f.md"]
    headings = "# Run a stack by hand against `qb24 sandbox`\n## 4. Create `.env`\n# A\n# A\n"
    assert heading_anchors(headings) == {"run-a-stack-by-hand-against-qb24-sandbox", "4-create-env",
                                         "a", "a-1"}
