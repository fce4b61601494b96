"""Devices page (field technicians): every camera with its face numbers, problems first, and what to do.

The list filters by problem and by store or device; each device has a detail view
(/devices?device=ID) with every camera's numbers and the full advice. Times are in each store's
own time zone, named under the store.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dash
import pandas as pd
from dash import Input, Output, dcc, html

from dashboard import data, i18n
from dashboard.advice import camera_advice, problem_name
from dashboard.i18n import N_, _
from dashboard.pages._common import context, demo_badge, dropdown, not_allowed, principal_with_role
from dashboard.problems import camera_problems, is_missing

dash.register_page(__name__, path="/devices", title="storelens", name="Devices")

ROLES = ("technician", "analyst")
REFRESH_MS = 30_000
ANY, ALL = "any", "all"
COLUMNS = (("problems", N_("Problems")), ("store_id", N_("Store")), ("device_id", N_("Device")),
           ("camera_id", N_("Camera")), ("status", N_("Status")), ("median_face_px", N_("Median face")),
           ("backlight_score", N_("Backlight")), ("fps", N_("fps")), ("last_frame_at", N_("Last frame")),
           ("backlog", N_("Backlog")), ("last_heartbeat", N_("Last heartbeat")), ("last_sync", N_("Last sync")),
           ("advice", N_("What to do")))
STATUS = {"online": N_("online"), "offline": N_("offline"), "never seen": N_("never seen"), "unknown": N_("unknown")}


def layout(device: str | None = None, **_query) -> html.Div:
    if principal_with_role(*ROLES) is None:
        return not_allowed(_("the device list"))
    refresh = dcc.Interval(id="devices-refresh", interval=REFRESH_MS)
    if device:
        return html.Div([dcc.Link(_("← All devices"), href="/devices", id="device-back"),
                         dcc.Store(id="device-id", data=device), refresh,
                         dcc.Loading(html.Div(id="device-detail"), type="default", delay_show=150)])
    return html.Div([
        html.Div([
            html.Div([html.Label(_("Show")), dropdown(id="devices-filter", value=ALL, clearable=False,
                                                          options=_filter_options([]))], className="control"),
            html.Div([html.Label(_("Store or device")), dcc.Input(id="devices-search", type="search", value="",
                                                                  debounce=True, placeholder=_("e.g. seed-004"))],
                     className="control"),
            html.Div(id="devices-summary", className="control summary"),
        ], className="controls"),
        html.Div(_("Times are each store's local time; the time zone is named under the store."),
                 className="tz-note", id="devices-tz"),
        refresh,
        dcc.Loading(html.Div(id="devices-table", className="card table-wrap"), type="default", delay_show=150),
    ])


def _filter_options(problems: list[str]) -> list[dict]:
    fixed = [{"label": _("All cameras"), "value": ALL}, {"label": _("Any problem"), "value": ANY}]
    return fixed + [{"label": problem_name(p), "value": p} for p in problems]


def _frame(principal) -> pd.DataFrame:
    """Every visible camera with its problems and advice (now: this request's time)."""
    ctx = context()
    frame = data.devices(ctx.engine, principal)
    if frame.empty:
        return frame
    now = datetime.now(UTC)
    rows = frame.to_dict("records")
    frame["problems"] = [camera_problems(row, now, ctx.cfg) for row in rows]
    frame["advice"] = [camera_advice(row, p, sync_overdue_h=ctx.cfg.sync_overdue_h)
                       for row, p in zip(rows, frame["problems"], strict=True)]
    frame = frame.assign(_ok=frame["problems"].map(len) == 0)
    return frame.sort_values(["_ok", "store_id", "device_id"], kind="stable")


def update(_tick, wanted, search):
    principal = principal_with_role(*ROLES)
    if principal is None:
        return _("Not available."), [], _filter_options([])
    frame = _frame(principal)
    if frame.empty:
        return (_("No devices yet. Register one with `storelens cloud device add`; it appears here after its "
                  "first heartbeat."), [], _filter_options([]))
    seen = sorted({p for ps in frame["problems"] for p in ps})
    shown = _filtered(frame, wanted, search)
    bad = int((~frame["_ok"]).sum())
    summary = _("{n} cameras on {d} devices; {bad} with problems; {shown} shown.").format(
        n=len(frame), d=frame["device_id"].nunique(), bad=bad, shown=len(shown))
    return html.Span(summary, id="devices-count"), _table(shown), _filter_options(seen)


def _filtered(frame: pd.DataFrame, wanted: str | None, search: str | None) -> pd.DataFrame:
    if wanted == ANY:
        frame = frame[~frame["_ok"]]
    elif wanted and wanted != ALL:
        frame = frame[frame["problems"].map(lambda ps: wanted in ps)]
    text = (search or "").strip().lower()
    if text:
        hay = frame["store_id"].str.lower() + " " + frame["device_id"].str.lower()
        frame = frame[hay.str.contains(text, regex=False)]
    return frame


def _when(value, tz: str, now: datetime) -> list:
    if is_missing(value) or value == "":
        return ["-"]
    return [html.Span(i18n.timestamp(value, tz, seconds=True), className="when"), html.Br(),
            html.Small(i18n.ago(value, now))]


def _cell(key: str, row: dict, now: datetime) -> html.Td:
    value, tz = row.get(key), row["timezone"]
    if key == "problems":
        return html.Td([html.Span(problem_name(p), className="problem-tag") for p in value] or _("ok"))
    if key == "advice":
        return html.Td(html.Ul([html.Li(a) for a in value], className="advice") if row["problems"] else "")
    if key == "store_id":
        return html.Td([value, html.Br(), html.Small(tz, className="tz")])
    if key == "device_id":
        link = dcc.Link(value, href=f"/devices?device={value}", id=f"device-link-{value}")
        return html.Td([link, " ", _demo_device(row)])
    if key == "status":
        return html.Td(_(STATUS.get(str(value), str(value))))
    if key in ("last_heartbeat", "last_sync", "last_frame_at"):
        return html.Td(_when(value, tz, now))
    return html.Td(_number(key, value, row))


def _labelled(cell: html.Td, label: str) -> html.Td:
    """The column name on the cell itself: a phone shows each camera as a card of labelled lines."""
    return html.Td(cell.children, **{"data-label": label})


def _demo_device(row: dict) -> html.Span:
    if not row.get("seeded"):
        return html.Span()
    return html.Span(_("demo device"), className="badge demo", title=_("A seeded device of a demo store"))


def _number(key: str, value, row: dict) -> str:
    if is_missing(value):
        return "-"
    if key == "median_face_px":
        return "-" if not row.get("faces_seen") else f"{float(value):.0f} px"
    if key == "backlight_score":
        return "-" if not row.get("faces_seen") else _("{n} stops").format(n=i18n.decimal(float(value), 1))
    if key == "fps":
        return i18n.decimal(float(value), 1)
    if key == "backlog":
        oldest = row.get("backlog_oldest_s")
        age = "" if is_missing(oldest) or not value else " · " + _("oldest {n} min").format(n=round(oldest / 60))
        return _("{n} windows").format(n=i18n.integer(value)) + age
    return str(value)


def _table(frame: pd.DataFrame) -> html.Table:
    now = datetime.now(UTC)
    head = html.Tr([html.Th(_(title)) for _key, title in COLUMNS])
    rows = [html.Tr([_labelled(_cell(key, row, now), _(title)) for key, title in COLUMNS],
                    className="problem" if row["problems"] else "ok",
                    id=f"device-row-{row['device_id']}-{row['camera_id'] or 'none'}")
            for row in frame.to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="data", id="devices-kpi-table")


def detail(_tick, device_id):
    principal = principal_with_role(*ROLES)
    frame = _frame(principal) if principal is not None else pd.DataFrame()
    rows = frame[frame["device_id"] == device_id].to_dict("records") if not frame.empty else []
    if not rows:
        return html.Div(_("No device {device} among the devices you may see.").format(device=device_id),
                        className="notice", id="device-missing")
    first, now = rows[0], datetime.now(UTC)
    facts = ((_("Store"), [first["store_id"], " ", demo_badge(bool(first["seeded"]))]),
             (_("Status"), _(STATUS.get(str(first["status"]), str(first["status"])))),
             (_("Time zone"), i18n.tz_label(first["timezone"])),
             (_("Last heartbeat"), _when(first["last_heartbeat"], first["timezone"], now)),
             (_("Last sync"), _when(first["last_sync"], first["timezone"], now)),
             (_("Backlog"), _number("backlog", first["backlog"], first)),
             (_("Software"), str(first.get("software_version") or "-")),
             (_("Models"), first["model_versions"] or "-"))
    return html.Div([html.H2([device_id, " ", _demo_device(first)], id="device-title"),
                     html.Table([html.Tr([html.Th(k), html.Td(v)]) for k, v in facts], className="data facts"),
                     *(_camera_card(row, now) for row in rows)])


def _camera_card(row: dict, now: datetime) -> html.Div:
    numbers = ((_("Problems"), [html.Span(problem_name(p), className="problem-tag") for p in row["problems"]]
                or _("ok")),
               (_("Median face"), _number("median_face_px", row["median_face_px"], row)),
               (_("Backlight"), _number("backlight_score", row["backlight_score"], row)),
               (_("Faces seen"), i18n.integer(row["faces_seen"]) if not is_missing(row["faces_seen"]) else "-"),
               (_("fps"), _number("fps", row["fps"], row)),
               (_("Last frame"), _when(row["last_frame_at"], row["timezone"], now)))
    camera = row["camera_id"] or _("(no camera reported)")
    return html.Div([html.H3(_("Camera {camera}").format(camera=camera)),
                     html.Table([html.Tr([html.Th(k), html.Td(v)]) for k, v in numbers], className="data facts"),
                     html.H4(_("What to do")),
                     html.Ul([html.Li(a) for a in row["advice"]], className="advice",
                             id=f"advice-{row['camera_id'] or 'none'}")],
                    className="card camera " + ("problem" if row["problems"] else "ok"))


def register_callbacks(app: dash.Dash) -> None:
    app.callback(Output("devices-summary", "children"), Output("devices-table", "children"),
                 Output("devices-filter", "options"), Input("devices-refresh", "n_intervals"),
                 Input("devices-filter", "value"), Input("devices-search", "value"))(update)
    app.callback(Output("device-detail", "children"), Input("devices-refresh", "n_intervals"),
                 Input("device-id", "data"))(detail)
