"""The dashboard's message catalog: every UI string is in it, translated, and shown in the user's language.

The Chinese catalog is a committed .po file compiled at start; these tests read the same file, so a
fresh clone with no build step is what they check.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import flask
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dashboard import i18n
from dashboard.advice import face_advice
from storelens.facehealth import FaceSummary, advice

DASHBOARD = Path(i18n.__file__).resolve().parent.parent
PO_FILE = i18n.LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "dashboard.po"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _msgids() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(DASHBOARD), method_map=[("**.py", "python")], keywords=KEYWORDS):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def _catalog() -> dict[str, str]:
    with PO_FILE.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale="zh_Hans") if m.id and not m.fuzzy}


def test_every_ui_string_has_a_chinese_translation_with_the_same_placeholders() -> None:
    catalog, missing, broken = _catalog(), [], []
    for msgid in sorted(_msgids()):
        text = catalog.get(msgid, "")
        if not text:
            missing.append(msgid)
        elif sorted(re.findall(r"\{[^}]*\}|%\{[^}]*\}", msgid)) != sorted(re.findall(r"\{[^}]*\}|%\{[^}]*\}", text)):
            broken.append(msgid)
    assert not missing, f"{len(missing)} strings without a zh_Hans translation in {PO_FILE}: {missing[:10]}"
    assert not broken, f"translations whose {{placeholders}} differ from the English: {broken[:10]}"
    assert len(_msgids()) > 150


def _app(accept: str = "", language: str | None = None) -> flask.Flask:
    app = flask.Flask("t")
    i18n.install(app, i18n.Catalogs.load())
    return app


@pytest.mark.parametrize(
    ("header", "expected"),
    [("zh-CN,zh;q=0.9,en;q=0.8", "zh_Hans"), ("zh-Hans", "zh_Hans"), ("zh-TW", "zh_Hans"), ("en-GB,en", "en"),
     ("de-DE,de;q=0.9,zh;q=0.5", "zh_Hans"), ("fr-FR", "en"), ("", "en")],
)
def test_language_follows_accept_language_when_the_user_chose_none(header: str, expected: str) -> None:
    app = _app()
    with app.test_request_context("/", headers={"Accept-Language": header} if header else {}):
        assert i18n.language() == expected


def test_strings_numbers_and_dates_follow_the_language() -> None:
    from datetime import date

    app = _app()
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert i18n._("Today so far") == "今日截至目前"
        assert i18n._("{n} visitors").format(n=i18n.integer(12345)) == "12,345 位访客"
        assert i18n.day(date(2026, 6, 1), weekday=True) == "6月1日周一"
        assert i18n.graph_config()["locale"] == "zh-CN"
        assert i18n.graph_config()["locales"]["zh-CN"]["format"]["shortMonths"][0] == "1月"
    with app.test_request_context("/", headers={"Accept-Language": "en-US"}):
        assert i18n._("Today so far") == "Today so far"
        assert i18n.day(date(2026, 6, 1), weekday=True) == "Mon, Jun 1"
        assert "locale" not in i18n.graph_config()
    assert i18n._("Today so far") == "Today so far"  # outside a request: English, no error


FACE_CASES = [FaceSummary(0, None, None, None, None, None), FaceSummary(10, 64, 2.4, 0.1, None, None),
              FaceSummary(10, 28, 0.3, 0.7, None, None), FaceSummary(10, 64, 0.3, 0.1, 10, None),
              FaceSummary(10, 64, 0.3, 0.1, None, 0.05), FaceSummary(10, 64, 0.3, 0.1, None, 0.95),
              FaceSummary(10, 64, 0.3, 0.1, None, None), FaceSummary(10, 31, 3.2, 0.8, 5, 0.02)]


@pytest.mark.parametrize("summary", FACE_CASES)
def test_every_sentence_of_the_shared_face_advice_is_translated_with_its_numbers(summary) -> None:
    """The technician page shows `storelens camera check`'s own sentences; each one has a translation."""
    app = _app()
    sentences = advice(summary, min_face_px=40, good_sharpness=300)
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        for english in sentences:
            chinese = i18n.numbered(english)
            assert CJK.search(chinese), f"untranslated advice: {english}"
            assert re.findall(r"\d+(?:\.\d+)?", chinese) == re.findall(r"\d+(?:\.\d+)?", english)


def test_the_dashboard_advice_is_the_cli_advice() -> None:
    row = {"faces_seen": 120, "median_face_px": 28.0, "backlight_score": 2.1, "small_face_fraction": 0.8}
    summary = FaceSummary(120, 28.0, 2.1, 0.8, None, None)
    assert face_advice(row) == advice(summary, min_face_px=40, good_sharpness=300.0)


# Components and helpers whose text arguments a user reads.
UI_CALLS = {"control", "kpi", "empty", "not_allowed", "_base", "demo_label"}
UI_KEYWORDS = {"children", "label", "placeholder", "title", "name", "start_date_placeholder_text",
               "end_date_placeholder_text"}
ALLOWED = {"storelens", "m", "%", "#", "ok", "fps", "px"}
UI_FILES = [*sorted((DASHBOARD / "pages").glob("*.py")), DASHBOARD / "shell.py", DASHBOARD / "figures.py",
            DASHBOARD / "advice.py"]


def _literal_words(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    else:
        return None
    words = re.findall(r"[A-Za-z]{2,}", text)
    return text if words and text.strip() not in ALLOWED and not text.startswith(("#", "%{", "x %{")) else None


def _ui_call(node: ast.Call) -> bool:
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("html", "dcc"):
        return True
    return isinstance(func, ast.Name) and func.id in UI_CALLS


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: p.name)
def test_no_ui_text_bypasses_the_catalog(path: Path) -> None:
    """A literal English string handed straight to a component would stay English in Chinese."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call) or not _ui_call(node):
            continue
        texts = [_literal_words(a) for a in node.args[:1]]
        texts += [_literal_words(k.value) for k in node.keywords if k.arg in UI_KEYWORDS]
        bad += [f"{path.name}:{node.lineno}: {t!r}" for t in texts if t]
    assert not bad, "UI text outside the catalog (wrap it in _()):\n" + "\n".join(bad)


def test_no_translated_literal_hides_inside_an_f_string() -> None:
    """pybabel's extractor does not look inside f-strings: `f"{_('(so far)')}"` is translated at run
    time only if someone added the string to the catalog by hand, and the check above never sees it."""
    hidden = []
    for path in sorted(DASHBOARD.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.JoinedStr):
                continue
            for part in ast.walk(node):
                if (isinstance(part, ast.Call) and isinstance(part.func, ast.Name) and part.func.id in ("_", "N_")
                        and part.args and isinstance(part.args[0], ast.Constant)):
                    hidden.append(f"{path.relative_to(DASHBOARD)}:{part.lineno}: {part.args[0].value!r}")
    assert not hidden, "translated literals inside f-strings (move them to a variable):\n" + "\n".join(hidden)
