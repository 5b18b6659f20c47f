"""The words app.js writes into the page (the live progress line, a connection that could not be finished),
in the request's language. base.html hands them to the script as JSON, so the script holds no English of its
own; placeholders stay for the script to fill (`%(name)s`, as in the catalog)."""
from __future__ import annotations

from flask_babel import gettext as _


def script_text() -> dict[str, str]:
    """Key → translated template; gettext without values leaves the placeholders in."""
    return {"done_of_total": _("%(done)s of %(total)s"),
            "rate": _("%(rate)s records/s"),
            "eta": _("about %(seconds)s s left"),
            "not_connected": _("QuickBooks was not connected."),
            "connect_unfinished": _("The connection could not be finished; click Log in again.")}
