"""Tiny HTML helpers for the portal pages (no templates, no external assets)."""
from __future__ import annotations

import json
from html import escape
from urllib.parse import urlencode

from sandbox.bitrix24.bx24js import HOST_JS

_CSS = ("body{font-family:sans-serif;margin:0}nav{background:#2fc6f6;padding:8px}nav a{color:#fff;"
        "margin-right:12px}main{padding:12px}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px}.kanban{display:flex;gap:8px}.column{background:#eef;padding:6px;min-width:160px}"
        ".card{background:#fff;margin:4px 0;padding:4px;border:1px solid #ccd}"
        "iframe{width:100%;height:420px;border:1px solid #999;display:none}")


def page(title: str, body: str, host_script: bool = False) -> str:
    """The portal layout with navigation."""
    nav = "".join(f'<a href="{href}">{label}</a>' for href, label in (
        ("/", "Home"), ("/crm/contact/list/", "Contacts"), ("/crm/company/list/", "Companies"),
        ("/crm/lead/list/", "Leads"), ("/crm/deal/list/", "Deals"), ("/crm/type/31/kanban/", "Invoices"),
        ("/crm/invoice/list/", "Old invoices"), ("/marketplace/", "Applications")))
    script = f"<script>{HOST_JS}</script>" if host_script else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{_CSS}</style>{script}</head><body><nav>{nav}</nav><main><h1>{escape(title)}</h1>"
            f"{body}</main></body></html>")


def frame_form(form_id: str, fields: dict) -> str:
    """A hidden form that POSTs the app fields into the `appframe` iframe."""
    action = f"{fields['handler_url']}{'&' if '?' in fields['handler_url'] else '?'}{urlencode(fields['query'])}"
    inputs = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                     for k, v in fields["form"].items())
    return f'<form id="{form_id}" method="post" action="{escape(action)}" target="appframe">{inputs}</form>'


def session_json(fields: dict, client_id: str, client_endpoint: str, attribute: bool = True) -> str:
    """The data BX24.init() hands to the app: escaped for an attribute or for a script element."""
    data = {**fields["query"], **fields["form"], "client_id": client_id, "client_endpoint": client_endpoint,
            "IS_ADMIN": bool(fields.get("is_admin", True))}
    text = json.dumps(data)
    return escape(text) if attribute else text.replace("<", "\\u003c")


def iframe() -> str:
    """The iframe apps open in."""
    return '<iframe id="appframe" name="appframe"></iframe>'


def table(rows: list[dict], columns: list[str], link: str) -> str:
    """A list table; the ID column links to the card."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(
        f'<td><a href="{link.format(id=r["ID"])}">{escape(str(r.get(c) or ""))}</a></td>' if c == "ID"
        else f"<td>{escape(str(r.get(c) or ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
