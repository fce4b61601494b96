"""Store page (store managers, analysts): today live, visitors, age mix, dwell, zones and the floor heatmap."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dash
from dash import Input, Output, dcc, html

from dashboard import data, figures, i18n, metrics, today
from dashboard.i18n import N_, _
from dashboard.pages import _heat as heat
from dashboard.pages._common import (
    context,
    control,
    date_range,
    default_range,
    demo_badge,
    demo_label,
    dropdown,
    fmt_change,
    graph,
    include_seeded,
    kpi,
    not_allowed,
    parse_day,
    principal_with_role,
    seeded_toggle,
    tz_note,
)
from dashboard.sales import store_card

dash.register_page(__name__, path="/store", title="storelens", name="Store")

ROLES = ("manager", "analyst")
BANDING = ((N_("Fine"), "fine"), (N_("Coarse"), "coarse"), (N_("Custom"), "custom"))
NO_STORE = N_("Choose a store you have access to.")


def banding_options() -> list[dict]:
    return [{"label": _(label), "value": value} for label, value in BANDING]


def store_options(visible) -> list[dict]:
    return [{"label": demo_label(f"{r.name} ({r.store_id})", bool(r.seeded)), "value": r.store_id}
            for r in visible.itertuples()]


def layout(store: str | None = None, **_query) -> html.Div:
    principal = principal_with_role(*ROLES)
    if principal is None:
        return not_allowed(_("store pages"))
    ctx = context()
    visible = data.stores(ctx.engine, principal)
    if visible.empty:
        return html.Div(_("No stores are assigned to your account yet; ask an administrator to add them "
                          "(storelens dashboard user add ... --stores)."), className="notice", id="store-empty")
    refused = store is not None and store not in set(visible["store_id"])
    chosen = None if refused else (store or visible["store_id"].iloc[0])
    tz = visible.set_index("store_id")["timezone"].get(chosen, "UTC")
    first, last = default_range(data.latest_window(ctx.engine, principal, [chosen] if chosen else []),
                                ctx.cfg.default_days, tz)
    demo = data.has_seeded(ctx.engine, principal, [chosen]) if chosen else False
    return html.Div([
        not_allowed(_("store {store}").format(store=store)) if refused else html.Div(),
        html.Div(id="store-heading", className="heading"),
        _controls(store_options(visible), chosen, first, last, tz, demo),
        _today_section(ctx.cfg.live_refresh_s),
        dcc.Loading(html.Div([html.Div(id="store-message", className="notice"),
                              html.Div(id="store-seeded-note", className="notice demo-note"),
                              html.H3(_("Selected dates"), className="section"),
                              html.Div(id="store-kpis", className="kpis"),
                              html.Div([graph("store-by-hour"), graph("store-by-day")], className="grid2"),
                              html.Div([graph("store-age"), graph("store-dwell")], className="grid2"),
                              graph("store-zones")]),
                    type="default", delay_show=150),
        heat.section("store"),
        # Room for more sections (conversion, downloads) below; they take the same store and dates.
        html.Div(store_card.section(), id="store-more"),
    ])


def _controls(options, chosen, first, last, tz, demo: bool) -> html.Div:
    return html.Div([
        control(_("Store"), dropdown(id="store-select", options=options, value=chosen, clearable=False)),
        control(_("Dates"), date_range("store-dates", first, last, tz)),
        control(_("Age bands"), dcc.RadioItems(id="store-banding", options=banding_options(), value="fine",
                                               inline=True)),
        control(_("Custom band lower bounds"), dcc.Input(id="store-custom-bands", value="0,18,25,35,50,65",
                                                         debounce=True)),
        seeded_toggle("store-seeded", demo),
    ], className="controls")


def _today_section(refresh_s: float) -> html.Div:
    return html.Div([html.H3(_("Today so far"), className="section"),
                     html.Div(id="today-note", className="tz-note"),
                     html.Div(id="today-kpis", className="kpis"),
                     dcc.Interval(id="today-refresh", interval=int(refresh_s * 1000))],
                    className="today", id="today")


def _scope(store_id, start=None, end=None, *, dates: bool = True):
    """(principal, store row, period) when this request may see the store, else None."""
    principal = principal_with_role(*ROLES)
    if principal is None or not store_id or (dates and (not start or not end)):
        return None
    found = data.stores(context().engine, principal, [store_id])
    if found.empty:
        return None
    row = found.iloc[0]
    period = data.Period.local_days(parse_day(start), parse_day(end), row["timezone"]) if dates else None
    return principal, row, period


def heading(store_id):
    """Store name, demo badge, its time zone, and the date picker's last allowed day (store's today)."""
    scope = _scope(store_id, dates=False)
    if scope is None:
        return [], dash.no_update
    _principal, row, _period = scope
    title = html.H2([row["name"], " ", demo_badge(bool(row["seeded"]), "store-demo-badge")], id="store-title")
    return [title, tz_note(row["timezone"], "store-tz")], datetime.now(UTC).astimezone(
        ZoneInfo(row["timezone"])).date().isoformat()


def overview(store_id, start, end, seeded):
    scope = _scope(store_id, start, end)
    if scope is None:
        blank = figures.empty(_(NO_STORE))
        return _(NO_STORE), [], blank, blank, blank, blank, ""
    principal, row, period = scope
    engine, keep = context().engine, include_seeded(seeded)
    now = data.windows(engine, principal, [store_id], period, seeded=keep)
    before = data.windows(engine, principal, [store_id], period.previous(), seeded=keep)
    message = "" if not now.empty else _("No visitor data in this date range. Data arrives off-peak (usually "
                                         "overnight), so today may still be empty; pick earlier dates.")
    dwell = data.dwell_histogram(engine, principal, store_id, period, seeded=keep)
    zone = data.zone_visits(engine, principal, store_id, period, seeded=keep)
    tz = row["timezone"]
    return (message, _kpi_cards(metrics.kpis(now), metrics.kpis(before)),
            figures.visitors_by_hour(metrics.by_hour(now, tz), tz),
            figures.visitors_by_day(metrics.by_day(now, tz), metrics.by_day(before, tz),
                                    shift_days=(parse_day(end) - parse_day(start)).days + 1,
                                    today=datetime.now(ZoneInfo(tz)).date()),
            figures.dwell(dwell) if dwell["visits"].sum() else figures.empty(_("No dwell times in this range."),
                                                                             _("Time in store")),
            figures.zones(zone) if not zone.empty else figures.empty(_("No zones configured or visited."),
                                                                     _("Zone visits")),
            seeded_note(now, tz))


def seeded_note(windows, tz: str) -> str:
    demo_days, all_days = metrics.seeded_days(windows, tz)
    if not demo_days:
        return ""
    return _("Demo (seeded) data on {n} of {total} days in this range: synthetic history, not measured. "
             "Hatched bars in 'Visitors by day' mark those days; untick 'Include demo (seeded) data' "
             "to leave it out.").format(n=demo_days, total=all_days)


def _kpi_cards(now: dict, before: dict) -> list:
    def delta(key):
        return fmt_change(metrics.change(now[key], before[key]))

    return [kpi(_("Unique visitors"), i18n.integer(now["unique_visitors"]), delta("unique_visitors"), "visitors"),
            kpi(_("Entries"), i18n.integer(now["entries"]), delta("entries"), "entries"),
            kpi(_("Visitors with an age (coverage)"), i18n.percent(now["coverage"]),
                _("{n} visitors").format(n=i18n.integer(now["visitors_with_age"])), "coverage"),
            kpi(_("Family visits"), i18n.integer(now["family_visits"]),
                _("{share} of visitors").format(share=i18n.percent(now["family_share"])), "family"),
            kpi(_("Group visits"), i18n.integer(now["group_visits"]), delta("group_visits"), "groups")]


def live(_tick, store_id, seeded):
    """Today's entries, unique visitors and occupancy, refreshed by the interval (no page reload)."""
    scope = _scope(store_id, dates=False)
    if scope is None:
        return "", []
    principal, row, _period = scope
    tz = row["timezone"]
    numbers = today.today_so_far(context().engine, principal, store_id, tz, seeded=include_seeded(seeded))
    return _today_note(numbers, tz), _today_cards(numbers, tz)


def _today_note(numbers: today.Today, tz: str) -> str:
    if numbers.reach is None:
        return _("No windows received yet today (store time, {zone}); this updates every minute.").format(
            zone=i18n.tz_label(tz))
    last = numbers.last_week
    return _("Up to {time} store time ({zone}); compared with {day} up to the same time.").format(
        time=i18n.clock(numbers.reach, tz), zone=i18n.tz_label(tz),
        day=i18n.day(last.start.astimezone(ZoneInfo(tz)).date(), weekday=True))


def _today_cards(numbers: today.Today, tz: str) -> list:
    now, last, occ = numbers.today, numbers.last_week, numbers.occupancy
    against = _("{change} vs same hours last week")

    def delta(current: int, previous: int) -> str:
        if numbers.reach is None:
            return _("same hours last week: {n}").format(n=i18n.integer(previous))
        return fmt_change(metrics.change(current, previous), against) if last.windows else _("no data last week")

    window = (_("latest window {start}–{end}").format(start=i18n.clock(occ.latest_start, tz),
                                                      end=i18n.clock(occ.latest_end, tz))
              if occ.latest_start is not None else _("no window yet"))
    return [kpi(_("Entries today"), i18n.integer(now.entries), delta(now.entries, last.entries), "today-entries"),
            kpi(_("Unique visitors today"), i18n.integer(now.unique_visitors),
                delta(now.unique_visitors, last.unique_visitors), "today-visitors"),
            kpi(_("Occupancy (people in view)"), i18n.integer(occ.latest), window, "today-occupancy"),
            kpi(_("Peak occupancy today"), i18n.integer(occ.peak), "", "today-peak")]


def age(store_id, start, end, banding, custom, seeded):
    scope = _scope(store_id, start, end)
    title = _("Age mix (visitors with an age estimate)")
    if scope is None:
        return figures.empty(_(NO_STORE), title), ""
    principal, _row, period = scope
    try:
        spec = metrics.parse_custom_bands(custom or "") if banding == "custom" else banding
    except ValueError as exc:
        return figures.empty(str(exc), title), str(exc)
    hist = data.age_histograms(context().engine, principal, [store_id], period, seeded=include_seeded(seeded))
    if hist.empty or hist.to_numpy().sum() == 0:
        return figures.empty(_("No age estimates in this range (faces too small, turned away or none seen)."),
                             title), ""
    return figures.age_mix(metrics.band_mix(hist.iloc[0].to_numpy(), spec)), ""


def register_callbacks(app: dash.Dash) -> None:
    dates = [Input("store-select", "value"), Input("store-dates", "start_date"), Input("store-dates", "end_date")]
    seeded = Input("store-seeded", "value")
    app.callback(Output("store-heading", "children"), Output("store-dates", "max_date_allowed"),
                 Input("store-select", "value"))(heading)
    app.callback(Output("store-message", "children"), Output("store-kpis", "children"),
                 Output("store-by-hour", "figure"), Output("store-by-day", "figure"),
                 Output("store-dwell", "figure"), Output("store-zones", "figure"),
                 Output("store-seeded-note", "children"), *dates, seeded)(overview)
    app.callback(Output("store-age", "figure"), Output("store-custom-bands", "title"), *dates,
                 Input("store-banding", "value"), Input("store-custom-bands", "value"), seeded)(age)
    app.callback(Output("today-note", "children"), Output("today-kpis", "children"),
                 Input("today-refresh", "n_intervals"), Input("store-select", "value"), seeded)(live)
    heat.register_store_callbacks(app, _scope)
