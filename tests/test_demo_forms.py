"""The demo's form reader sends what a browser would: hidden and text inputs, ticked boxes only, the
selected option (else the first), never buttons; links by where they point."""
from __future__ import annotations

import pytest

from qb24.demo_forms import form_posting_to, form_with, link_to, read_page

PAGE = """<form id="other" action="/elsewhere"><input name="x" value="1"></form>
<form method="post" action="/bitrix24/app/settings?a=1">
  <input type="hidden" name="csrf_token" value="t&amp;k">
  <input type="radio" name="rule" value="contacts"><input type="radio" name="rule" value="companies" checked>
  <input type="checkbox" name="export" value="on"><input type="checkbox" name="kept" checked>
  <select name="stage"><option value="N">New</option><option value="S" selected>Sent</option></select>
  <select name="first"><option value="A">A</option><option value="B">B</option></select>
  <input name="hours" value="24"><button type="submit" name="go" value="1">Save</button>
  <input type="submit" name="also" value="x">
</form>
<a id="open" href="http://q.example/app/invoice?nameId=7" target="_blank">Open <b>it</b></a>"""


def test_a_form_sends_what_a_browser_would() -> None:
    form = form_posting_to(PAGE, "/bitrix24/app/settings")
    assert form.fields == {"csrf_token": "t&k", "rule": "companies", "kept": "on", "stage": "S", "first": "A",
                           "hours": "24"}
    assert form.url("http://app.example/bitrix24/app") == "http://app.example/bitrix24/app/settings?a=1"
    assert form_with(PAGE, id="other").fields == {"x": "1"}


def test_links_and_missing_forms() -> None:
    link = link_to(PAGE, "/app/invoice?nameId=")
    assert link.href == "http://q.example/app/invoice?nameId=7"
    assert (link.attrs["target"], link.text) == ("_blank", "Open it")
    assert len(read_page(PAGE)[0]) == 2
    with pytest.raises(ValueError):
        form_with(PAGE, id="missing")
    with pytest.raises(ValueError):
        link_to(PAGE, "/nowhere")
