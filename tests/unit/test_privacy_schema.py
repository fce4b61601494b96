"""Privacy by construction: no wire field can carry an image, a crop, an embedding or a track id.

The walk accepts only: bounded ints, bounded floats, bools, datetimes, strings with a short
pattern, fixed-size lists of bounded ints, and nested wire models built of the same. Anything
else (free text, bytes, unbounded float lists, a `track` field) fails the test.
"""

from __future__ import annotations

import re
import typing
from datetime import datetime

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from storelens.wire import AggregateWindow, HealthMessage, Receipt

MAX_STRING = 64
MAX_LIST = 100_000  # heatmap cells: [col, row, count] triples of ints, not pixels
FORBIDDEN_NAMES = re.compile(r"track|embed|image|crop|face_?box|pixel|jpeg|png|base64|vector|feature", re.I)


def _meta(items) -> dict:
    out = {}
    for m in items:
        if isinstance(m, FieldInfo):  # Annotated[x, Field(...)] nests its constraints
            out.update(_meta(m.metadata))
            continue
        for attr in ("ge", "gt", "le", "lt", "max_length", "min_length", "pattern"):
            if getattr(m, attr, None) is not None:
                out[attr] = getattr(m, attr)
    return out


def _check(tp, meta: dict, path: str, problems: list[str]) -> None:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        inner, *extra = args
        return _check(inner, {**meta, **_meta(extra)}, path, problems)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for arg in args:
            if arg is not type(None):
                _check(arg, meta, path, problems)
        return None
    if origin is typing.Literal or tp is bool or tp is datetime:
        return None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return walk(tp, path + ".", problems)
    if tp in (int, float):
        if not ({"le", "lt"} & meta.keys()):
            problems.append(f"{path}: unbounded {tp.__name__}")
        return None
    if tp is str:
        if not meta.get("pattern") or re.search(r"\{1,(\d+)\}", meta["pattern"]) is None:
            problems.append(f"{path}: free-form string")
        elif int(re.search(r"\{1,(\d+)\}", meta["pattern"]).group(1)) > MAX_STRING:
            problems.append(f"{path}: string longer than {MAX_STRING}")
        return None
    if origin is list:
        if meta.get("max_length", MAX_LIST + 1) > MAX_LIST:
            problems.append(f"{path}: unbounded list")
        return _check(args[0], {}, path + "[]", problems)
    if origin is dict:
        if meta.get("max_length", 10**9) > 256:
            problems.append(f"{path}: unbounded mapping")
        _check(args[0], {}, path + "{key}", problems)
        return _check(args[1], {}, path + "{}", problems)
    problems.append(f"{path}: type {tp!r} may carry arbitrary data")
    return None


def walk(model: type[BaseModel], path: str, problems: list[str]) -> list[str]:
    if model.model_config.get("extra") != "forbid":
        problems.append(f"{path or model.__name__}: unknown keys are not refused")
    for name, field in model.model_fields.items():
        if FORBIDDEN_NAMES.search(name):
            problems.append(f"{path}{name}: field name suggests image/crop/embedding/track data")
        _check(_annotation(field), _meta(field.metadata), f"{path}{name}", problems)
    return problems


def _annotation(field: FieldInfo):
    return field.rebuild_annotation() if hasattr(field, "rebuild_annotation") else field.annotation


@pytest.mark.parametrize("model", [AggregateWindow, HealthMessage, Receipt])
def test_no_field_can_carry_pixels_embeddings_or_track_ids(model) -> None:
    assert walk(model, "", []) == []


def test_the_walk_catches_a_leaky_field() -> None:
    """The checker itself must fail on the kinds of field it is there to keep out."""

    class Leaky(AggregateWindow):
        embedding: list[float] = []
        track_ids: list[int] = []
        snapshot: str = ""

    problems = walk(Leaky, "", [])
    assert any("embedding" in p and "unbounded" in p for p in problems)
    assert any(p.startswith("track_ids") for p in problems)
    assert any("snapshot: free-form string" in p for p in problems)


def test_heat_cells_are_int_triples_not_pixels() -> None:
    schema = AggregateWindow.model_json_schema()
    cell = schema["$defs"]["Heatmap"]["properties"]["cells"]["items"]
    assert cell["minItems"] == cell["maxItems"] == 3
    assert cell["items"]["type"] == "integer"
