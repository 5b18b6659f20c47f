"""The app page Bitrix24 shows in its iframe: connect, settings, start sync, progress, report."""
from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from clients.bitrix24_errors import Bitrix24Error
from config.settings import Settings
from store.db import transaction
from store.models import Portal, QboConnection, SyncRun
from store.portals import portal_by_member_id
from store.events import failed_add_ids, take_up_again
from store.sync_log import failure_of
from store.tokens import PortalMissing
from webhooks.admins import Right, admin_action, as_now, opening_verdict, remember_opening, require_admin
from webhooks.errors import PageError
from webhooks.frame_auth import authenticate_frame_post
from webhooks.i18n import remember_language
from webhooks.portal_settings import (STATUSES, effective_settings, field_errors, invoice_stages,
                                      load_settings_form, portal_crm)
from webhooks.run_status import status_sentence
from webhooks.runtime import runtime
from webhooks.services import bitrix24_client, portal_tokens
from workers.facts_cache import FactsCache
from workers.progress import report_view, run_progress
from workers.lease import orphaned
from workers.exports import enqueue_export
from workers.runs import RunActive, active_run, cancel_pending_run, start_run
from workers.tasks import EnqueueFailed, enqueue_full_sync, enqueue_retry
from webhooks.sync_log_view import EXPORT_FAILED_AFTER, export_retry_target, retry_target, sync_log_view
from webhooks.session import (PortalSession, csrf_token, link_token, open_in_bitrix24, origin, require_session,
                              start_session)

log = logging.getLogger("qb24.web.pages")
pages = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
                  static_url_path="/app-static")
REQUIRED_FIELD_ERROR = "CRM_FIELD_ERROR_REQUIRED"


@pages.post("/bitrix24/app")
def app_from_portal() -> str:
    """The portal opens the app: confirm the POST, keep its fresh tokens, start a session, render."""
    frame = authenticate_frame_post(request, outside=open_in_bitrix24())
    g.frame_origin = origin(frame.client_endpoint)  # trusted (from app.info): refusals show in the frame
    rt = runtime()
    with rt.sessions() as session:
        portal = portal_by_member_id(session, frame.member_id)
        if portal is None or portal.status != "installed":
            raise PageError(403, "The app is not installed on this Bitrix24 portal; install it from the Market first.")
    # Not user.admin: it keeps saying true for a dismissed user and for a system-user clone
    # (webhooks/admin_checks.py opening_right); profile and user.get do not.
    right = opening_verdict(frame)
    admin = right is Right.ADMIN
    # The sync runs as the stored tokens' user, so only an administrator's become the portal's.
    # A POST without REFRESH_ID must not wipe the stored refresh token either.
    if admin and frame.auth.refresh_token:
        portal_tokens().save(frame.auth)
    remember_opening(frame.member_id, portal.install_id, frame.user_id, frame.auth, right)
    start_session(frame.member_id, frame.user_id, admin, portal.install_id or "")
    remember_language(request.args.get("LANG"))  # the frame's later requests (forms, polls) carry none
    log.info("app.opened", extra={"member_id": frame.member_id, "user_id": frame.user_id, "admin": admin})
    return _render(PortalSession(frame.member_id, frame.user_id, portal.id, admin))


@pages.get("/bitrix24/app")
def app_page() -> str:
    """The same page from the session (after a save, a sync start or a connect)."""
    return _render(as_now(require_session()))


@pages.get("/bitrix24/app/logout")
def confirm_logout() -> Response | str:
    """Log out's confirmation step: it revokes QuickBooks access for the whole portal, so one click on the
    app page only asks; this page's button POSTs /quickbooks/disconnect (CSRF token, admin re-check)."""
    who = require_admin(as_now(require_session()))
    rt = runtime()
    with rt.sessions() as session:
        connection = _connection(session, who.portal_id)
        if connection is None or connection.status != "connected":
            return redirect(url_for("pages.app_page"), 303)  # already logged out: nothing to confirm
        company = connection.company_name or _("your QuickBooks company")
    return render_template("qb24/logout.html", company=company, csrf_token=csrf_token(),
                           b24_js_url=rt.settings.b24_js_url)


@pages.get("/bitrix24/app/status")
def connection_status() -> Response:
    """Whether QuickBooks is connected; the page polls it while the consent tab is open."""
    who = require_session()
    with runtime().sessions() as session:
        connection = _connection(session, who.portal_id)
        connected = connection is not None and connection.status == "connected"
        install_confirmed = session.get(Portal, who.portal_id).application_token_enc is not None
        body = {"connected": connected, "company_name": connection.company_name if connected else None,
                "install_confirmed": install_confirmed, "realm_id": connection.realm_id if connected else None}
    # No re-check here (the page polls every 2 s): POST /quickbooks/connect asks Bitrix24 itself
    # (webhooks/connect.py), so a token handed to a since-demoted administrator opens nothing.
    body["connect_token"] = None if connected or not who.admin else _connect_token(who)
    return jsonify(body)


@pages.post("/bitrix24/app/settings")
def save_settings() -> Response | tuple[str, int]:
    """Validate and store the settings form; bad input re-renders with the field errors and saves nothing."""
    who = admin_action()
    rt = runtime()
    with rt.sessions() as session:
        stored = dict(session.get(Portal, who.portal_id).settings or {})
    client = bitrix24_client(who.member_id)
    current = effective_settings(stored, [])
    try:
        loaded = load_settings_form(request.form, current, lambda new: invoice_stages(client, new))
    except ValidationError as error:
        return _render(who, errors=field_errors(error), form=request.form), 400
    except Bitrix24Error as error:
        flash(f"Bitrix24 did not answer with the invoice stages ({error.code}); nothing was saved.", "error")
        return redirect(url_for("pages.app_page"), 303)
    with transaction(rt.sessions) as session:
        portal = session.get(Portal, who.portal_id)
        portal.settings = loaded
        cache = FactsCache(rt.redis, portal)
    cache.drop()  # the invoice kind or its stages may be new: the next pull reads them again
    log.info("app.settings.saved", extra={"member_id": who.member_id})
    flash("Settings saved.", "ok")
    return redirect(url_for("pages.app_page"), 303)


@pages.post("/bitrix24/app/sync")
def start_sync() -> Response:
    """Queue a full sync (or a dry run) unless one is already pending or running; one no process
    holds (its worker died, or its message was never queued) is queued again instead."""
    who = admin_action()
    dry_run = request.form.get("mode") == "dry_run"
    rt = runtime()
    try:
        with transaction(rt.sessions) as session:
            connection = _connection(session, who.portal_id)
            if connection is None or connection.status != "connected":
                raise PageError(409, "Log in with QuickBooks before starting a sync.")
            run = start_run(session, who.portal_id, dry_run=dry_run)
    except RunActive:
        return _resume_orphan(who)
    try:
        enqueue_full_sync(rt, run.id)  # only now: the worker must find the committed row
    except EnqueueFailed as error:
        flash(str(error), "error")
        return redirect(url_for("pages.app_page"), 303)
    log.info("app.sync.queued", extra={"member_id": who.member_id, "run_id": run.id, "dry_run": dry_run})
    flash("Dry run queued: nothing is written to Bitrix24." if dry_run else "Sync queued.", "ok")
    return redirect(url_for("pages.app_page"), 303)


@pages.post("/bitrix24/app/sync/cancel")
def cancel_sync() -> Response:
    """Cancel the portal's queued sync before a worker begins it; one already begun is left to run."""
    who = admin_action()
    run_id = request.form.get("run_id", "")
    if not run_id.isascii() or not run_id.isdigit() or len(run_id) > 18:
        raise PageError(400, _("Name the sync run to cancel by its number."))
    rt = runtime()
    with transaction(rt.sessions) as session:
        cancelled = cancel_pending_run(session, who.portal_id, int(run_id))
        run = session.get(SyncRun, int(run_id))
        if run is None or run.portal_id != who.portal_id:  # another portal's run is a 404, untouched
            raise PageError(404, _("This sync run does not exist for this portal. Reload the app."))
        status = run.status
    if cancelled:
        log.info("app.sync.cancelled", extra={"member_id": who.member_id, "run_id": int(run_id)})
        flash(_("The queued sync was cancelled: it will not start."), "ok")
    elif status == "running":
        flash(_("The sync had already started, so it was not cancelled; its progress is below."), "error")
    else:
        flash(_("The sync had already ended, so there was nothing to cancel."), "error")
    return redirect(url_for("pages.app_page"), 303)


@pages.post("/bitrix24/app/sync/retry")
def retry_record() -> Response | tuple[str, int]:
    """Queue a re-apply of one record of the portal's sync log (its Retry button): a QuickBooks record, or the
    export of a Bitrix24 contact or company (a form naming b24_type)."""
    who = admin_action()
    exporting = "b24_type" in request.form
    target = export_retry_target(request.form) if exporting else retry_target(request.form)
    if target is None:
        raise PageError(400, "Only a QuickBooks customer or invoice, or a Bitrix24 contact or company, of the sync "
                             "log can be retried.")
    rt = runtime()
    with rt.sessions() as session:
        connection = _connection(session, who.portal_id)
        if connection is None or connection.status != "connected":
            raise PageError(409, "Log in with QuickBooks before retrying a record.")
        logged = (failed_add_ids(session, who.portal_id, *target, EXPORT_FAILED_AFTER) if exporting
                  else failure_of(session, who.portal_id, *target))
        if not logged:  # only this portal's rows: another's is a 404
            raise PageError(404, "This record is not in the sync log any more: it may have been written since. "
                                 "Reload the app to see the current log.")
    if exporting:  # a given-up record is the worker's again; committed before the task that reads it is queued
        with transaction(rt.sessions) as session:
            take_up_again(session, logged)
    try:
        _queue_retry(who, target, exporting)
    except EnqueueFailed as error:
        flash(str(error), "error")
        return _render(who), 503
    if exporting:
        flash(f"Retry queued: Bitrix24 {target[0]} {target[1]} is exported to QuickBooks again shortly; "
              "it leaves the sync log once it is a QuickBooks customer.", "ok")
    else:
        flash(f"Retry queued: QuickBooks {target[0].lower()} {target[1]} is applied again in a few seconds; "
              "it leaves the sync log once it is in Bitrix24.", "ok")
    return redirect(url_for("pages.app_page"), 303)


def _queue_retry(who: PortalSession, target: tuple[str, str], exporting: bool) -> None:
    rt = runtime()
    if not exporting:
        enqueue_retry(rt, who.portal_id, *target)
        log.info("app.retry.queued", extra={"member_id": who.member_id, "qbo_type": target[0], "qbo_id": target[1]})
        return
    # An export works every waiting add event of the portal (workers/exports.py), this record's included; one
    # already queued and not started (a backoff retry) works it instead, within a minute or two.
    try:
        enqueue_export(rt, who.portal_id)
    except EnqueueFailed as error:
        raise EnqueueFailed("The retry could not be queued: the task queue did not answer. The app's periodic "
                            "sweep exports the record within minutes; or try again in a minute.") from error
    log.info("app.retry.queued", extra={"member_id": who.member_id, "b24_type": target[0], "b24_id": target[1]})


def _resume_orphan(who: PortalSession) -> Response:
    """The portal's active run blocks a new one: queue it again if no process holds it, else refuse."""
    rt = runtime()
    with rt.sessions() as session:
        run = active_run(session, who.portal_id)
    if run is None or not orphaned(run):
        flash("A sync is already queued or running for this portal: its progress is below. "
              "Start another when it has finished.", "error")
        return redirect(url_for("pages.app_page"), 303)
    # Redis would hand a killed worker's task back only after the visibility timeout (an hour), and a
    # run whose message was never queued never. A second delivery is harmless: the lease (workers/lease.py).
    try:
        enqueue_full_sync(rt, run.id)
    except EnqueueFailed as error:
        flash(str(error), "error")
        return redirect(url_for("pages.app_page"), 303)
    log.info("app.sync.requeued", extra={"member_id": who.member_id, "run_id": run.id})
    flash(f"The sync started earlier (run {run.id}) was left unfinished: it was queued again and resumes "
          "where it stopped.", "ok")
    return redirect(url_for("pages.app_page"), 303)


INTUIT_CONSENT_ORIGIN = "https://appcenter.intuit.com"


@pages.get("/bitrix24/app/progress")
def progress() -> Response:
    """The latest run's status and counters, for the live progress bar."""
    who = require_session()
    with runtime().sessions() as session:
        return jsonify(_progress(_latest_run(session, who.portal_id)))


def _progress(run: SyncRun | None) -> dict[str, Any]:
    """The run's progress with its state as a sentence (`status_text`); `status` stays raw for scripts."""
    progress = run_progress(run)
    progress["status_text"] = status_sentence(progress, run.finished_at if run else None)
    return progress


def _qbo_consent_origin(settings: Settings) -> str:
    """Where Log in's POST redirects (CSP form-action also governs a form's redirects)."""
    # Intuit's discovery document names https://appcenter.intuit.com as the authorization endpoint
    # (reference §7); a discovery URL of our own (the sandbox) serves its consent page itself.
    return origin(settings.qbo_discovery_url) if settings.qbo_discovery_url else INTUIT_CONSENT_ORIGIN


@pages.after_request
def frame_headers(response: Response) -> Response:
    """Only the portal's own origin may frame the page; scripts only from here and the BX24 library."""
    # Without a confirmed portal (no session, unconfirmed POST) no origin may frame the page.
    ancestors = g.get("frame_origin") or "'none'"
    js_origin = origin(runtime().settings.b24_js_url)
    consent_origin = _qbo_consent_origin(runtime().settings)
    # Refusals are webhooks.errors' self-contained pages, styled inline.
    styles = "'self' 'unsafe-inline'" if response.status_code >= 400 else "'self'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self' {js_origin}; script-src 'self' {js_origin}; style-src {styles}; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self' {consent_origin}; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}")
    response.headers.pop("X-Frame-Options", None)  # CSP frame-ancestors replaces it; XFO cannot name an origin
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _render(who: PortalSession, errors: dict[str, str] | None = None, form: Any = None) -> str:
    rt = runtime()
    with rt.sessions() as session:
        portal = session.get(Portal, who.portal_id)
        connection = _connection(session, who.portal_id)
        run = _latest_run(session, who.portal_id)
        view = {"portal": portal, "run": run, "progress": _progress(run),
                "connected": connection is not None and connection.status == "connected",
                "connection": connection, "errors": errors or {}, "form": form, "admin": who.admin,
                "csrf_token": csrf_token(), "b24_js_url": rt.settings.b24_js_url,
                "signup_url": rt.settings.qbo_signup_url,
                "connect_token": _connect_token(who) if who.admin else None,
                "report": report_view(run), "run_failed_on_required": _failed_on_required(run),
                "awaiting_install_event": portal.application_token_enc is None}
        if view["connected"]:
            view.update(sync_log_view(session, connection))
        stored = dict(portal.settings or {})
    if view["connected"] and who.admin:  # the read-only page shows no settings: no CRM reads for it
        view.update(_crm_view(who.member_id, stored))
    return render_template("qb24/app.html", statuses=STATUSES, **view)


def _crm_view(member_id: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The portal's stages and mandatory custom fields, read live; a failure becomes a notice."""
    use_new_invoice = bool(stored.get("use_new_invoice", True))
    try:
        stages, required = portal_crm(bitrix24_client(member_id), use_new_invoice)
    except (Bitrix24Error, PortalMissing) as error:
        code = getattr(error, "code", type(error).__name__)
        log.warning("app.crm_read_failed", extra={"member_id": member_id, "code": code})
        return {"stages": [], "settings": effective_settings(stored, []), "required_fields": [],
                "crm_error": code}
    return {"stages": stages, "settings": effective_settings(stored, stages), "required_fields": required,
            "crm_error": None}


def _failed_on_required(run: SyncRun | None) -> bool:
    # The certain signal that "check required custom fields" is on: a write refused with it.
    return run is not None and (REQUIRED_FIELD_ERROR in (run.error or "") or REQUIRED_FIELD_ERROR in json.dumps(run.report or {}))


def _connect_token(who: PortalSession) -> str:
    # Issued to administrators only (POST /quickbooks/connect trusts it as one's).
    # The token outlives no consent state (10 min): the page's script renews the form's copy.
    return link_token(who.member_id, who.user_id, "connect")


def _connection(session: Session, portal_id: int) -> QboConnection | None:
    return session.scalar(select(QboConnection).where(QboConnection.portal_id == portal_id))


def _latest_run(session: Session, portal_id: int) -> SyncRun | None:
    return session.scalar(select(SyncRun).where(SyncRun.portal_id == portal_id).order_by(SyncRun.id.desc()).limit(1))
