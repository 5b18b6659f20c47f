"""A portal's settings (`Portal.settings` JSON): schema, defaults, the form, and what it reads from the portal."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from clients.bitrix24 import Bitrix24Client
from mappers.stages import default_stage_map
# The pure settings code lives in workers/ (the sync engine must not import webhooks); re-exported here.
from workers.portal_settings import (  # noqa: F401
    CUSTOMER_RULES, DEAL_LINK_HOURS, DEFAULTS, ON_INVOICE_DELETE, SMART_INVOICE, STATUSES, effective_settings,
    invoice_stages, stage_source, stages_from,
)

log = logging.getLogger("qb24.web.settings")
# The form's own words instead of marshmallow's English ones ("Not a valid integer."); lazy, so each is
# read in the language of the request whose form is checked (field_errors). A select or checkbox sends
# one of the page's values, so NOT_LISTED shows only for a hand-made request.
NOT_LISTED = _l("Choose one of the listed options.")
HOURS = _l("Enter a whole number of hours from %(low)s to %(high)s.", low=DEAL_LINK_HOURS[0], high=DEAL_LINK_HOURS[1])


class PortalSettingsSchema(Schema):
    """The settings an admin saves; stage ids must be stages of the portal's invoice pipeline."""

    use_new_invoice = fields.Boolean(load_default=True, error_messages={"invalid": NOT_LISTED})
    customer_rule = fields.String(load_default="by_company_name",
                                  validate=validate.OneOf(CUSTOMER_RULES, error=NOT_LISTED))
    stage_map = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    export_new_contacts = fields.Boolean(load_default=False, error_messages={"invalid": NOT_LISTED})
    on_invoice_delete = fields.String(load_default="stage", validate=validate.OneOf(ON_INVOICE_DELETE, error=NOT_LISTED))
    deal_link_hours = fields.Integer(load_default=DEFAULTS["deal_link_hours"], strict=False,
                                     error_messages={"invalid": HOURS},
                                     validate=validate.Range(*DEAL_LINK_HOURS, error=HOURS))

    def __init__(self, stage_ids: set[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage_ids = stage_ids

    @validates_schema(skip_on_field_errors=False)  # report every bad field at once
    def _stages_exist(self, data: dict[str, Any], **kwargs: Any) -> None:
        stage_map = data.get("stage_map") or {}
        problems = {status: [_("Choose a stage of this portal.")] for status in STATUSES
                    if stage_map.get(status) not in self.stage_ids}
        problems.update({key: [_("Not a QuickBooks invoice status.")] for key in stage_map if key not in STATUSES})
        if problems:
            raise ValidationError({"stage_map": problems})


def form_input(form: Mapping[str, str]) -> dict[str, Any]:
    """The HTML form as schema input (selects are `stage_<status>`; an unticked checkbox is absent)."""
    return {
        "use_new_invoice": form.get("use_new_invoice", ""),
        "customer_rule": form.get("customer_rule", ""),
        "stage_map": {status: form.get(f"stage_{status}", "") for status in STATUSES},
        "export_new_contacts": form.get("export_new_contacts", "off"),
        "on_invoice_delete": form.get("on_invoice_delete", ""),
        "deal_link_hours": form.get("deal_link_hours", "").strip(),
    }


def load_settings_form(form: Mapping[str, str], current: Mapping[str, Any],
                       stages_for: Callable[[bool], list[dict[str, Any]]]) -> dict[str, Any]:
    """Validated settings from the form; raises ValidationError with the field messages."""
    raw = form_input(form)
    if "on_invoice_delete" not in form:  # a form without the choice keeps the stored one
        raw["on_invoice_delete"] = current.get("on_invoice_delete", DEFAULTS["on_invoice_delete"])
    if "deal_link_hours" not in form:  # likewise the window (forms from before the setting existed)
        raw["deal_link_hours"] = current.get("deal_link_hours", DEFAULTS["deal_link_hours"])
    try:
        use_new_invoice = fields.Boolean().deserialize(raw["use_new_invoice"])
    except ValidationError:
        use_new_invoice = bool(current["use_new_invoice"])  # the schema reports the bad value
    stages = stages_for(use_new_invoice)
    if use_new_invoice != current["use_new_invoice"] and stages:
        # The selects listed the other invoice kind's stages: its map starts from the defaults.
        raw["stage_map"] = default_stage_map(stages)
    return PortalSettingsSchema(stage_ids={str(s["STATUS_ID"]) for s in stages}).load(raw)


def field_errors(error: ValidationError) -> dict[str, str]:
    """Schema messages keyed by form field name, for the page."""
    messages = error.normalized_messages()
    flat = {name: _joined(text) for name, text in messages.items() if not isinstance(text, dict)}
    for status, text in (messages.get("stage_map") or {}).items():
        flat[f"stage_{status}"] = _joined(text)
    return flat


def _joined(text: Any) -> str:
    """A field's messages as one line; marshmallow keeps a lazy one (NOT_LISTED, HOURS) unlisted, and it is
    read here, in the request's language."""
    return "; ".join(map(str, text)) if isinstance(text, list) else str(text)


def portal_crm(client: Bitrix24Client, use_new_invoice: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """The invoice stages and the mandatory custom fields, read in one batch (plus the Smart Invoice stages).

    Whether the portal's "check required custom fields" REST option (`rest_enable_req_uf_check`,
    default off; reference §6) is on is not readable over REST. What is readable is which user
    fields are mandatory (`isRequired` on a dynamic `UF_*`/`uf*` field in *.fields); only with
    the option on do those make our writes fail with CRM_FIELD_ERROR_REQUIRED, which is the
    certain signal (a sync run that recorded it). Both feed the notice on the page.
    """
    fields_of = {"contact": ("crm.contact.fields", {}), "company": ("crm.company.fields", {}),
                 "invoice": ("crm.item.fields", {"entityTypeId": SMART_INVOICE}) if use_new_invoice
                 else ("crm.invoice.fields", {})}
    outcome = client.batch({"stages": stage_source(use_new_invoice), **fields_of})
    if "stages" in outcome.errors:
        raise outcome.errors["stages"]
    stages = stages_from(client, use_new_invoice, outcome.results.get("stages"))
    for entity, error in outcome.errors.items():  # the notice is then incomplete, not wrong
        log.warning("app.fields_read_failed", extra={"member_id": client.member_id, "entity": entity,
                                                      "code": error.code})
    return stages, [found for entity in fields_of for found in _required(entity, outcome.results.get(entity))]


def _required(entity: str, described: Any) -> list[str]:
    described = described.get("fields", described) if isinstance(described, dict) else {}
    return [f"{entity}: {_label(name, field)}" for name, field in described.items()
            if isinstance(field, dict) and field.get("isRequired") and _is_user_field(name, field)]


def _is_user_field(name: str, field: Mapping[str, Any]) -> bool:
    return bool(field.get("isDynamic")) or name.upper().startswith("UF_")


def _label(name: str, field: Mapping[str, Any]) -> str:
    label = field.get("formLabel") or field.get("listLabel") or field.get("title") or name
    return str(label) if label == name else f"{label} ({name})"
