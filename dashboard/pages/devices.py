"""Devices page (field technicians): every device and camera, problems first and in red."""

from __future__ import annotations

from datetime import UTC, datetime

import dash
import pandas as pd
from dash import Input, Output, dcc, html

from dashboard import data
from dashboard.pages._common import context, not_allowed, principal_with_role
from dashboard.problems import camera_problems, is_missing

dash.register_page(__name__, path="/devices", title="Devices - storelens", name="Devices")

ROLES = ("technician", "analyst")
REFRESH_MS = 30_000
COLUMNS = (("problems", "Problems"), ("store_id", "Store"), ("device_id", "Device"), ("camera_id", "Camera"),
           ("status", "Status"), ("last_heartbeat", "Last heartbeat (UTC)"), ("fps", "fps"),
           ("backlog", "Backlog"), ("last_sync", "Last sync (UTC)"), ("model_versions", "Models"))


def layout(**_query) -> html.Div:
    if principal_with_role(*ROLES) is None:
        return not_allowed("the device list")
    return html.Div([
        html.Div(id="devices-summary", className="controls"),
        dcc.Interval(id="devices-refresh", interval=REFRESH_MS),
        dcc.Loading(html.Div(id="devices-table", className="card"), type="default", delay_show=150),
    ])


def update(_tick):
    principal = principal_with_role(*ROLES)
    if principal is None:
        return "Not available.", []
    ctx = context()
    frame = data.devices(ctx.engine, principal)
    if frame.empty:
        return ("No devices yet. Register one with `storelens cloud device add`; it appears here after its "
                "first heartbeat."), []
    now = datetime.now(UTC)
    frame["problems"] = [camera_problems(row, now, ctx.cfg) for row in frame.to_dict("records")]
    frame = frame.assign(_ok=frame["problems"].map(len) == 0).sort_values(["_ok", "store_id", "device_id"])
    bad = int((~frame["_ok"]).sum())
    summary = f"{len(frame)} cameras on {frame['device_id'].nunique()} devices; {bad} with problems."
    return html.Span(summary, id="devices-count"), _table(frame)


def _cell(key: str, value) -> html.Td:
    if key == "problems":
        return html.Td([html.Span(p, className="problem-tag") for p in value] or "ok")
    if is_missing(value):
        return html.Td("-")
    if key in ("last_heartbeat", "last_sync"):
        return html.Td(pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S"))
    if key == "fps":
        return html.Td(f"{float(value):.1f}")
    return html.Td(str(value))


def _table(frame: pd.DataFrame) -> html.Table:
    head = html.Tr([html.Th(title) for _key, title in COLUMNS])
    rows = [html.Tr([_cell(key, row[key]) for key, _title in COLUMNS],
                    className="problem" if row["problems"] else "ok",
                    id=f"device-row-{row['device_id']}-{row['camera_id'] or 'none'}")
            for row in frame.to_dict("records")]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="data", id="devices-kpi-table")


def register_callbacks(app: dash.Dash) -> None:
    app.callback(Output("devices-summary", "children"), Output("devices-table", "children"),
                 Input("devices-refresh", "n_intervals"))(update)
