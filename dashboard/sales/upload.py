"""POS CSV upload on the store page: a manager for their stores, an analyst for any store.

The file is checked as a whole (cloud_sync.pos): one bad row refuses it, and the user sees every
problem with its line number; a good file is imported in one transaction and the conversion charts
refresh. Technicians never see the store page, and the callback checks the role again.
"""

from __future__ import annotations

import base64
import binascii
import logging

from dash import Input, Output, State, dcc, html

from cloud_sync import pos
from dashboard import data, i18n
from dashboard.i18n import _
from dashboard.pages._common import context, principal_with_role

log = logging.getLogger(__name__)

ROLES = ("manager", "analyst")
DONE = "pos-upload-done"  # a dcc.Store the conversion section listens to
EXAMPLE = ("store_id,hour_start,transactions,revenue,currency\n"
           "store-001,2026-03-29T09:00:00+02:00,42,1234.50,EUR\n"
           "store-001,2026-03-29 10:00,37,,\n")


def card() -> html.Div:
    return html.Div([
        html.H3(_("Import sales (POS) data"), className="section"),
        dcc.Upload(id="pos-upload", max_size=pos.MAX_BYTES, accept=".csv,text/csv,text/plain", multiple=False,
                   className="upload", children=html.Div([_("Drop the till's hourly CSV here, or "),
                                                          html.A(_("choose a file"), className="link")])),
        html.Div(id="pos-upload-result", className="notice"),
        dcc.Store(id=DONE),
        html.Details([html.Summary(_("CSV format")), html.P(_(
            "One row per store and hour: store_id, hour_start (ISO-8601 with UTC offset, or the store's local "
            "time without one), transactions, and optionally revenue with its ISO 4217 currency. A bad row "
            "refuses the whole file; importing an hour again replaces it.")), html.Pre(EXAMPLE)]),
    ], className="card upload-card", id="pos-upload-card")


def handle(contents: str | None, filename: str | None):
    """Import one uploaded file; (message, refresh token, cleared contents so the same file may come again)."""
    message, token = _import(contents, filename)
    return message, token, None


def _import(contents: str | None, filename: str | None):
    principal = principal_with_role(*ROLES)
    if principal is None or not contents:
        return "", None
    engine = context().engine
    name = filename or "upload.csv"
    try:
        text = _decode(contents, name)
        rows = pos.parse_csv(text, pos.store_zones(engine, data.visible_store_ids(engine, principal)), source=name)
        summary = pos.import_rows(engine, rows, source=f"dashboard upload {name}"[:256],
                                  imported_by=principal.username)
    except pos.PosImportError as exc:
        return _problems(exc), None
    except ValueError as exc:
        return html.Div(str(exc), className="error", id="pos-upload-error"), None
    message = _("{file}: {hours} hours imported for {stores} ({replaced} replaced earlier imports).").format(
        file=name, hours=i18n.integer(summary.hours), stores=", ".join(summary.stores),
        replaced=i18n.integer(summary.replaced))
    return html.Div(message, className="ok", id="pos-upload-ok"), f"{name}:{summary.hours}:{summary.last}"


def _decode(contents: str, name: str) -> str:
    _header, _comma, payload = contents.partition(",")
    try:
        return base64.b64decode(payload, validate=True).decode("utf-8-sig")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(_("{file}: not a UTF-8 text (CSV) file; nothing imported.").format(file=name)) from None


def _problems(exc: pos.PosImportError) -> html.Div:
    shown = exc.problems[:pos.MAX_REPORTED]
    more = len(exc.problems) - len(shown)
    items = [html.Li(f"{where}: {reason}") for where, reason in shown]
    if more:
        items.append(html.Li(_("... and {n} more").format(n=i18n.integer(more))))
    title = _("{file}: nothing imported; fix these rows and upload it again:").format(file=exc.source)
    return html.Div([html.Div(title), html.Ul(items, id="pos-upload-problems")], className="error",
                    id="pos-upload-error")


def register_callbacks(app) -> None:
    app.callback(Output("pos-upload-result", "children"), Output(DONE, "data"),
                 Output("pos-upload", "contents"), Input("pos-upload", "contents"), State("pos-upload", "filename"),
                 prevent_initial_call=True)(handle)
