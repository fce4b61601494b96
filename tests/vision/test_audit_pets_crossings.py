"""The entrance count on the PETS 2009 sample against a hand-made list of every crossing of its line.

tests/data/audit/pets2009_crossings.yaml was made by watching the video (see its header); its totals
(11 in, 15 out) are the issue authors' ground truth for this clip. Beside the audit's totals, each
counted crossing is matched in time to an annotated one, so a missed exit cannot hide behind an extra
entry. The scene is hard on purpose: a sign post stands beside the line and people stop there in groups.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from edge_agent.audit.audit import HandCount, audit
from edge_agent.samples import get_sample, sample_config_path
from storelens.config import load_config
from storelens.config.sources import CameraConfig
from storelens.paths import PROJECT_ROOT

pytestmark = [pytest.mark.vision, pytest.mark.slow]

ANNOTATION = PROJECT_ROOT / "tests" / "data" / "audit" / "pets2009_crossings.yaml"
PEOPLE = 19  # issue 9's identity count for this clip
TOLERANCE = 10  # frames (1 s) between an annotated crossing and the counted one


def _annotation() -> dict:
    return yaml.safe_load(ANNOTATION.read_text())


def _recorder(events: list[tuple[int, str]]) -> Callable:
    """A progress hook that notes the frame of every entry and exit the line counts."""
    last = [0, 0]

    def hook(frame, pipeline) -> None:
        line = pipeline.scene.lines[0]
        events.extend([(frame.index, "in")] * (line.entries - last[0]) + [(frame.index, "out")] * (line.exits - last[1]))
        last[:] = [line.entries, line.exits]
    return hook


def _match(truth: list[dict], counted: list[tuple[int, str]]) -> tuple[list[dict], list[tuple[int, str]]]:
    """(annotated crossings nothing was counted for, counted crossings nobody made), nearest in time first."""
    free = list(counted)
    missed = []
    for c in truth:
        near = [e for e in free if e[1] == c["direction"] and abs(e[0] - c["frame"]) <= TOLERANCE]
        if near:
            free.remove(min(near, key=lambda e: abs(e[0] - c["frame"])))
        else:
            missed.append(c)
    return missed, free


@pytest.fixture(scope="module")
def pets_run(models_cfg, media_dir: Path):
    cfg = load_config(sample_config_path(get_sample())).model_copy(update={"models": models_cfg})
    edge = cfg.edge.model_copy(update={"pipeline": cfg.edge.pipeline.model_copy(update={"faces": False})})
    cfg = cfg.model_copy(update={"edge": edge})
    totals = _annotation()["totals"]
    events: list[tuple[int, str]] = []
    camera = CameraConfig(id="cam1", url=str(media_dir / "video" / get_sample().file))
    outcome = audit(cfg, camera, HandCount(totals["in"], totals["out"], PEOPLE), progress=_recorder(events))
    assert outcome.error is None
    return outcome.report, events


def test_annotation_is_consistent() -> None:
    data = _annotation()
    crossings = data["crossings"]
    frames = [c["frame"] for c in crossings]
    assert frames == sorted(frames) and frames[0] >= 0 and frames[-1] < get_sample().frames
    assert {c["direction"] for c in crossings} == {"in", "out"}
    assert data["totals"] == {"in": sum(c["direction"] == "in" for c in crossings),
                              "out": sum(c["direction"] == "out" for c in crossings)} == {"in": 11, "out": 15}
    sample = yaml.safe_load(sample_config_path(get_sample()).read_text())
    assert [line["name"] for line in sample["edge"]["analytics"]["lines"]] == [data["line"]]


def test_counts_match_the_hand_annotation(pets_run) -> None:
    report, events = pets_run
    missed, extra = _match(_annotation()["crossings"], events)
    total = report.total
    print(f"counted in {total.counted_in}/{total.expected_in} out {total.counted_out}/{total.expected_out} "
          f"accuracy {total.accuracy:.3f}; missed {[(c['frame'], c['direction']) for c in missed]}; extra {extra}; "
          f"visitors {report.visitors.counted}/{report.visitors.expected}")
    # Measured: in 11/11, out 14/15, accuracy 0.962; 24 of 26 crossings matched in time. Missed: D's entry at
    # frame 36 (two people standing on the line swap tracks) and B's exit at 61 (walks behind a person standing
    # on the line, whose track takes B over); extra: an entry at frame 794, a person at the band's edge as the
    # video ends. Before the line's reappear rule and jump gate: 11/13 (0.923), W's exit at 160 missed too.
    assert total.accuracy >= 0.95
    assert len(missed) <= 2 and len(extra) <= 1
    assert [total.counted_in, total.counted_out] == [sum(e[1] == d for e in events) for d in ("in", "out")]


def test_unique_visitors_within_the_issue_floor(pets_run) -> None:
    report, _ = pets_run
    # Measured 18 for 19. The count is near right while the identities are not all right: look-alike dark
    # jackets merge some people, and track swaps in the group at the sign post split others.
    assert report.visitors.expected == PEOPLE
    assert abs(report.visitors.error) <= 0.15
