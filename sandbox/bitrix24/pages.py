"""Portal pages: app install/open/uninstall, CRM lists, cards with toolbar widgets, add forms."""
from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, redirect, request

from sandbox.bitrix24 import card_links, classic, lifecycle, permissions, smart_invoice
from sandbox.bitrix24.bx24js import BX24_JS
from sandbox.bitrix24.errors import RestError
from sandbox.bitrix24.html import frame_form, iframe, page, session_json, table
from sandbox.bitrix24.state import Portal

if TYPE_CHECKING:
    from sandbox.bitrix24.sandbox import Bitrix24Sandbox

_ADD_FIELDS = {"contact": ["NAME", "LAST_NAME", "EMAIL", "PHONE"], "company": ["TITLE", "EMAIL", "PHONE"],
               "lead": ["TITLE", "NAME", "LAST_NAME", "COMPANY_TITLE", "EMAIL", "PHONE"],
               "deal": ["TITLE", "OPPORTUNITY", "COMPANY_ID", "CONTACT_ID"]}
_LIST_COLUMNS = {"contact": ["ID", "NAME", "LAST_NAME"], "company": ["ID", "TITLE"],
                 "lead": ["ID", "TITLE", "NAME"], "deal": ["ID", "TITLE", "STAGE_ID"]}


def _app_frame(portal: Portal, fields: dict, client_id: str, state: str) -> str:
    """Page body that opens the app (or installer) in the iframe with its POST."""
    session = session_json(fields, client_id, f"{portal.url}/rest/", attribute=False)
    return (f'<p>Application <b>{escape(client_id)}</b>: <span id="install-state">{state}</span></p>'
            f"{frame_form('app-form', fields)}{iframe()}"
            f"<script>window.addEventListener('load', function () {{ openFrame('app-form', "
            f"JSON.parse(document.getElementById('session').textContent)); }});</script>"
            f'<script type="application/json" id="session">{session}</script>')


def _page_user(portal: Portal) -> int:
    """Who looks at the page: `?user_id=` (or the form's) stands in for the portal login; 1 by default."""
    raw = request.values.get("user_id", "1")
    user_id = int(raw) if raw.isdigit() else 0
    lifecycle.portal_user(portal, user_id)
    return user_id


def placement_options(entity_id: int) -> dict:
    """PLACEMENT_OPTIONS of a card's toolbar widget (DOCS widgets/crm/detail-toolbar.md, reference §4).

    `ID` is a string for leads, deals, contacts and companies. `URI` is "the path with the query string of
    the page from which the widget was opened", sent unless the browser sent no Referer or the page was on
    another domain (DOCS widgets/_includes/widget_data.md): the widget opens from this card page, on the
    portal's own domain, so it is sent. An app meets the no-Referer shape only from privacy-strict
    browsers; tests post that shape to the handler directly.
    """
    uri = request.full_path.rstrip("?")
    return {"ID": str(entity_id), "URI": uri}


def _toolbar(sb: "Bitrix24Sandbox", portal: Portal, kind: str, entity_id: int, user_id: int) -> str:
    """Buttons of `CRM_<KIND>_DETAIL_TOOLBAR` widgets of finished installs."""
    code, parts = f"CRM_{kind.upper()}_DETAIL_TOOLBAR", []
    for client_id, install in portal.installs.items():
        if not install.installed:
            continue  # DOCS: widgets are hidden until installFinish
        for n, binding in enumerate(p for p in install.placements if p.placement == code):
            fields = lifecycle.frame_fields(sb.state, portal, install, code, placement_options(entity_id),
                                            user_id=user_id)
            fields["handler_url"], form_id = binding.handler, f"placement-{client_id}-{n}"
            session = session_json(fields, client_id, f"{portal.url}/rest/")
            parts.append(f"{frame_form(form_id, fields)}<button class='placement' id='{form_id}-button' "
                         f"data-placement='{code}' "
                         f"onclick=\"openFrame('{form_id}', JSON.parse(this.dataset.session))\" "
                         f"data-session=\"{session}\">{escape(binding.title)}</button>")
    return f"<div class='toolbar'>{''.join(parts)}</div>{iframe()}"


def _record_fields(form: dict, kind: str) -> dict:
    """Form input -> REST-style fields (EMAIL/PHONE become multi-field entries)."""
    fields: dict = {}
    for key in _ADD_FIELDS[kind]:
        value = form.get(key, "").strip()
        if value and key in classic.MULTI:
            fields[key] = [{"VALUE": value, "VALUE_TYPE": "WORK"}]
        elif value:
            fields[key] = value
    return fields


def pages_blueprint(sb: "Bitrix24Sandbox", portal: Portal) -> Blueprint:
    """All portal pages."""
    bp = Blueprint("pages", __name__)
    state = sb.state

    @bp.route("/bx24.js")
    @bp.route("/api/v1/")
    def bx24_js() -> Response:
        return Response(BX24_JS, content_type="application/javascript")

    @bp.route("/")
    def home() -> str:
        return page(f"Portal {portal.domain}", f"<p>member_id <code>{portal.member_id}</code>, plan {portal.plan}</p>")

    @bp.route("/marketplace/")
    def marketplace() -> str:
        rows = "".join(f"<li><a href='/marketplace/app/{escape(c)}/'>{escape(c)}</a> "
                       f"({'installed' if i.installed else 'install not finished'}) "
                       f"<a href='/marketplace/app/{escape(c)}/uninstall/'>uninstall</a></li>"
                       for c, i in portal.installs.items())
        form = ("<form method='post' action='/marketplace/install/'><label>Handler URL <input name='handler_url' "
                "size='60'></label> <label>Client id <input name='client_id'></label> "
                "<label>As user <input name='user_id' value='1' size='4'></label> "
                "<button type='submit'>Install</button></form>")
        return page("Applications", f"<ul>{rows}</ul><h2>Install an application</h2>{form}")

    @bp.route("/marketplace/install/", methods=["POST"])
    def install() -> tuple[str, int] | str:
        with state.lock:
            try:
                user_id = _page_user(portal)
                if not portal.is_admin(user_id):  # only administrators install Market apps
                    return page("Install failed", "<p class='error'>Only an administrator can install "
                                                  "applications.</p>"), 403
                fields = lifecycle.begin_install(state, portal, request.form.get("client_id", ""),
                                                 request.form.get("handler_url") or None, user_id)
            except RestError as err:
                return page("Install failed", f"<p class='error'>{escape(err.description)}</p>")
        return page("Installing", _app_frame(portal, fields, request.form["client_id"], "installing"), True)

    @bp.route("/marketplace/app/<client_id>/")
    def open_app(client_id: str) -> tuple[str, int] | str:
        with state.lock:
            install = portal.installs.get(client_id) or abort(404)
            try:
                fields = lifecycle.frame_fields(state, portal, install, user_id=_page_user(portal))
            except RestError as err:
                return page("Application", f"<p class='error'>{escape(err.description)}</p>"), err.status
        label = "installed" if install.installed else "installing"
        return page("Application", _app_frame(portal, fields, client_id, label), True)

    @bp.route("/marketplace/finish/<app_sid>", methods=["POST"])
    def finish(app_sid: str) -> Response:
        with state.lock:
            session = portal.sessions.get(app_sid) or abort(404)
            lifecycle.finish_install(state, sb.sender, portal, session["client_id"])
        return Response("{}", content_type="application/json")

    @bp.route("/marketplace/app/<client_id>/uninstall/", methods=["GET", "POST"])
    def uninstall(client_id: str) -> str:
        if request.method == "POST":
            with state.lock:
                lifecycle.uninstall(state, sb.sender, portal, client_id, request.form.get("clean") == "Y")
            return page("Uninstalled", f"<p id='uninstalled'>{escape(client_id)} removed</p>")
        return page("Uninstall", "<form method='post'><label><input type='checkbox' name='clean' value='Y'> "
                                 "Delete application settings and data</label> <button>Uninstall</button></form>")

    @bp.route("/crm/<kind>/list/")
    def crm_list(kind: str) -> tuple[str, int] | str:
        if kind == "invoice":
            rows = list(portal.entities.get("invoice", {}).values())
            return page("Old invoices", table(rows, ["ID", "ORDER_TOPIC", "STATUS_ID", "PRICE"], "#{id}"))
        if kind not in _LIST_COLUMNS:
            abort(404)
        with state.lock:
            try:
                user_id = _page_user(portal)
            except RestError as err:
                problem = f"<p class='error'>{escape(err.description)}</p>"
                return page(f"{kind.title()} list", problem), err.status
            rows = permissions.readable(portal, user_id, kind, portal.entities.get(kind, {}).values())
        return page(f"{kind.title()} list", f"<p><a id='add' href='/crm/{kind}/add/'>Add</a></p>"
                    + table(rows, _LIST_COLUMNS[kind], f"/crm/{kind}/details/{{id}}/"))

    @bp.route("/crm/<kind>/details/<int:entity_id>/")
    def crm_card(kind: str, entity_id: int) -> tuple[str, int] | str:
        record = portal.entities.get(kind, {}).get(entity_id) if kind in _LIST_COLUMNS else None
        if record is None:
            abort(404)
        title = f"{kind.title()} #{entity_id}"
        with state.lock:
            try:
                user_id = _page_user(portal)
                if not permissions.may_read(portal, user_id, kind, record):
                    return page(title, "<p class='error' id='access-denied'>Access denied</p>"), 403
                toolbar = _toolbar(sb, portal, kind, entity_id, user_id)
            except RestError as err:
                return page(title, f"<p class='error'>{escape(err.description)}</p>")
            invoices = card_links.deal_invoices(portal, entity_id) if kind == "deal" else ""
        rows = "".join(f"<tr><th>{escape(k)}</th><td id='field-{escape(k)}'>{escape(str(v))}</td></tr>"
                       for k, v in record.items() if v not in (None, "", []))
        return page(title, f"{toolbar}<table id='fields'>{rows}</table>{invoices}", True)

    @bp.route("/crm/<kind>/add/", methods=["GET", "POST"])
    def crm_add(kind: str) -> Response | str:
        if kind not in _ADD_FIELDS:
            abort(404)
        if request.method == "POST":
            try:
                with state.lock:
                    user_id = _page_user(portal)  # the person adding it creates it and is responsible
                    fields = _record_fields(request.form, kind)
                    new_id = classic.create(state, sb.sender, portal, kind, fields, user_id)
            except RestError as err:
                return page("Not saved", f"<p class='error'>{escape(err.description)}</p>")
            as_user = f"?{urlencode({'user_id': user_id})}" if user_id != 1 else ""
            return redirect(f"/crm/{kind}/details/{new_id}/{as_user}")
        inputs = "".join(f"<p><label>{k} <input id='{k}' name='{k}'></label></p>" for k in _ADD_FIELDS[kind])
        form = f"<form method='post'>{inputs}<button id='save' type='submit'>Save</button></form>"
        return page(f"New {kind}", form)

    @bp.route("/crm/type/31/kanban/")
    def kanban() -> tuple[str, int] | str:
        with state.lock:
            try:
                user_id = _page_user(portal)
            except RestError as err:
                return page("Invoices", f"<p class='error'>{escape(err.description)}</p>"), err.status
            category = smart_invoice.default_category(portal)
            items = list(portal.entities.get(smart_invoice.KIND, {}).values())
            columns = "".join(
                f"<div class='column' data-stage='{stage}'><b>{stage}</b>" + "".join(
                    card_links.kanban_card(portal, user_id, i) for i in items if i["stageId"] == stage)
                + "</div>" for stage in smart_invoice.stage_ids(portal, category))
        return page("Invoices", f"<div class='kanban'>{columns}</div>")

    @bp.route("/oauth/authorize/")
    def authorize() -> Response:
        app = state.apps.get(request.args.get("client_id", "")) or abort(400)
        code = state.issue_code(portal.member_id, app.client_id)
        query = {"code": code, "state": request.args.get("state", ""), "domain": portal.domain,
                 "member_id": portal.member_id, "scope": app.scope,
                 "server_domain": state.oauth_url.split("://", 1)[1]}
        return redirect(f"{app.redirect_uri or app.handler_url or '/'}?{urlencode(query)}")

    return bp
