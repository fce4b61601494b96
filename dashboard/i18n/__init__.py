"""UI language: message catalogs, the request's language, and localised numbers and dates.

Every string a user reads goes through `_` (or `ngettext`/`pgettext`); strings defined at import time
are marked with `N_` and translated where they are shown. The catalogs are the gettext `.po` files
under dashboard/i18n/locale/<lang>/LC_MESSAGES/dashboard.po, committed as text and compiled in memory
when the app is created (`Catalogs.load`), so a fresh clone needs no build step and no `.mo` file.
Translators edit the `.po` with any gettext tool; `pybabel extract -F dashboard/i18n/babel.cfg`
lists new strings, and tests/unit/test_i18n_dashboard.py fails when one has no Chinese translation.

The language of a request: the user's own setting (dashboard.i18n.settings, stored on the user row),
else the browser's Accept-Language, else English. Outside a request (unit tests, CLI) it is English.
Numbers and dates are formatted with Babel's CLDR data for that language.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import flask
from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "dashboard"
DEFAULT = "en"
LANGUAGES: dict[str, str] = {"en": "English", "zh_Hans": "简体中文"}  # each language names itself
HTML_LANG = {"en": "en", "zh_Hans": "zh-Hans"}
PLOTLY_LOCALE = {"zh_Hans": "zh-CN"}
# dcc.DatePickerRange formats with date-fns and takes a locale only from the page (see datefns/README.md).
DATEFNS_LOCALE = {"zh_Hans": "zh-CN"}
DATEFNS_DIR = Path(__file__).resolve().parent / "datefns"
DATEFNS_ROUTE = "/_storelens/date-fns/"
EXTENSION = "storelens_i18n"


def N_(message: str) -> str:  # noqa: N802 (the gettext convention for "mark only")
    """Mark a string for the catalog without translating it (module constants)."""
    return message


@dataclass(frozen=True)
class Catalogs:
    """One compiled translation per language, built from the committed .po files."""

    translations: dict[str, NullTranslations] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path = LOCALE_DIR) -> Catalogs:
        found = {DEFAULT: NullTranslations()}
        for po_file in sorted(directory.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            language = po_file.parent.parent.name
            if language in LANGUAGES:
                found[language] = _compile(po_file)
        missing = set(LANGUAGES) - set(found)
        if missing:
            log.warning("no message catalog for %s under %s: those users see English", sorted(missing), directory)
        return cls(found)

    def get(self, language: str) -> NullTranslations:
        return self.translations.get(language) or self.translations[DEFAULT]


def _compile(po_file: Path) -> Translations:
    """A .po file compiled in memory (fuzzy entries left out, as msgfmt does)."""
    with po_file.open("rb") as fh:
        catalog = read_po(fh, locale=po_file.parent.parent.name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def install(server: flask.Flask, catalogs: Catalogs) -> None:
    server.extensions[EXTENSION] = catalogs
    server.add_url_rule(f"{DATEFNS_ROUTE}<name>.js", "storelens_datefns_locale", _datefns_locale)


def _datefns_locale(name: str) -> flask.Response:
    if name not in DATEFNS_LOCALE.values():  # only the shipped files, never a path from the URL
        flask.abort(404)
    return flask.send_from_directory(DATEFNS_DIR, f"{name}.min.js", mimetype="text/javascript", max_age=86_400)


def datefns_script() -> str | None:
    """URL of the date pickers' locale for this request's language; None for English (date-fns' own)."""
    name = DATEFNS_LOCALE.get(language())
    return None if name is None else f"{DATEFNS_ROUTE}{name}.js"


def negotiate(tags: Iterable[str]) -> str:
    """First supported language among Accept-Language tags (best first): any zh-* -> zh_Hans."""
    for tag in tags:
        primary = tag.replace("_", "-").split("-")[0].lower()
        if primary == "zh":
            return "zh_Hans"
        if primary == "en":
            return "en"
    return DEFAULT


def language() -> str:
    """This request's language (cached per request); English outside a request."""
    if not flask.has_request_context():
        return DEFAULT
    if "ui_language" not in flask.g:
        flask.g.ui_language = _pick_language()
    return flask.g.ui_language


def _pick_language() -> str:
    from dashboard.i18n.settings import user_language

    name = flask.session.get("user")
    context = flask.current_app.extensions.get("storelens")
    chosen = user_language(context.engine, name) if name and context is not None else None
    if chosen in LANGUAGES:
        return chosen
    return negotiate(tag for tag, _quality in flask.request.accept_languages)


def _translations() -> NullTranslations:
    catalogs = flask.current_app.extensions.get(EXTENSION) if flask.has_request_context() else None
    return catalogs.get(language()) if catalogs is not None else NullTranslations()


def _(message: str) -> str:
    return _translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations().ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return _translations().pgettext(context, message)


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def numbered(text: str) -> str:
    """Translate a sentence built elsewhere with numbers in it (the shared face advice).

    The catalog holds the sentence with each number written `{}`; the numbers are put back in the
    same order. A sentence the catalog does not know stays as it is (English)."""
    template = _NUMBER.sub("{}", text)
    translated = _(template)
    if translated == template:
        return text
    numbers = iter(_NUMBER.findall(text))
    return re.sub(r"\{\}", lambda _m: next(numbers, "?"), translated)


def locale() -> Locale:
    return Locale.parse(language())


def html_lang() -> str:
    return HTML_LANG.get(language(), "en")


def integer(value: float | int | None) -> str:
    """12,345 (grouped the way the language groups)."""
    return "-" if value is None else format_decimal(round(value), format="#,##0", locale=locale())


def decimal(value: float | None, digits: int = 1) -> str:
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    return "-" if value is None else format_decimal(value, format=pattern, locale=locale())


def percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    text = format_percent(value, format="#,##0%", locale=locale())
    return f"+{text}" if signed and value > 0 else text


def day(value: date, *, weekday: bool = False, year: bool = False) -> str:
    """Jun 1 / Mon, Jun 1 / Jun 1, 2026 (6月1日 / 6月1日周一 / 2026年6月1日)."""
    skeleton = ("yMMMEd" if weekday else "yMMMd") if year else ("MMMEd" if weekday else "MMMd")
    return format_skeleton(skeleton, value, locale=locale())


def short_day(value: date, *, weekday: bool = False) -> str:
    """An axis tick: Jun 1, or 1 Mon for a week of days (6月1日 / 1日周一): short enough for a phone."""
    return format_skeleton("Ed" if weekday else "MMMd", value, locale=locale())


def long_day(value: date) -> str:
    return format_date(value, format="medium", locale=locale())


def _aware(value: datetime | str) -> datetime:
    """Naive values (SQLite, JSON without offset) are UTC; ISO strings are parsed."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def clock(value: datetime | str, tz: str) -> str:
    """14:05 in the store's time zone."""
    return format_time(_aware(value).astimezone(ZoneInfo(tz)), format="HH:mm", locale=locale())


def timestamp(value: datetime | str, tz: str, seconds: bool = False) -> str:
    """2026-06-01 14:05 (store time); ISO order reads the same in both languages."""
    return _aware(value).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def ago(value: datetime | str, now: datetime) -> str:
    """'3 min ago', '5 h ago', '2 d ago' (numbers and units through the catalog)."""
    seconds = max(0.0, (now - _aware(value)).total_seconds())
    if seconds < 90:
        return _("{n} s ago").format(n=int(seconds))
    if seconds < 5400:
        return _("{n} min ago").format(n=round(seconds / 60))
    if seconds < 2 * 86400:
        return _("{n} h ago").format(n=round(seconds / 3600))
    return _("{n} d ago").format(n=round(seconds / 86400))


def period(first: date, last: date) -> str:
    """Jun 1 - Jun 7, 2026 or one day when first == last."""
    if first == last:
        return day(first, year=True)
    return f"{day(first, year=first.year != last.year)} – {day(last, year=True)}"


def tz_label(tz: str, at: datetime | None = None) -> str:
    """Europe/Berlin (UTC+02:00): the IANA name, unambiguous in every language, and today's offset."""
    moment = _aware(at or datetime.now(UTC)).astimezone(ZoneInfo(tz))
    offset = moment.strftime("%z")
    return f"{tz} (UTC{offset[:3]}:{offset[3:]})"


PLOTLY_MESSAGES = (N_("Autoscale"), N_("Box Select"), N_("Download plot as a png"), N_("Lasso Select"),
                   N_("Pan"), N_("Reset axes"), N_("Reset view"), N_("Toggle Spike Lines"), N_("Zoom"),
                   N_("Zoom in"), N_("Zoom out"), N_("Double-click to zoom back out"),
                   N_("Show closest data on hover"), N_("Compare data on hover"), N_("Download plot"))


def graph_config() -> dict:
    """dcc.Graph config: plotly.js's own texts (toolbar, month and day names) in the user's language."""
    # Zoom, pan, reset and download are what a store manager uses; the rest only widened the toolbar.
    config: dict = {"displaylogo": False, "modeBarButtonsToRemove": [
        "select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d", "toggleSpikelines",
        "hoverClosestCartesian", "hoverCompareCartesian"]}
    name = PLOTLY_LOCALE.get(language())
    if name is None:
        return config
    loc = locale()
    week = [loc.days["format"]["wide"][(i + 6) % 7] for i in range(7)]  # plotly weeks start on Sunday
    short = [loc.days["format"]["abbreviated"][(i + 6) % 7] for i in range(7)]
    months = [loc.months["format"]["wide"][m] for m in range(1, 13)]
    short_months = [loc.months["format"]["abbreviated"][m] for m in range(1, 13)]
    dictionary = {m: _(m) for m in PLOTLY_MESSAGES}
    config["locale"] = name
    config["locales"] = {name: {"dictionary": dictionary, "format": {
        "days": week, "shortDays": short, "months": months, "shortMonths": short_months,
        "date": "%Y-%m-%d", "decimal": loc.number_symbols["latn"]["decimal"],
        "thousands": loc.number_symbols["latn"]["group"]}}}
    return config
