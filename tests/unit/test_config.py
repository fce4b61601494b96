"""The config tree: defaults load, unknown keys and bad values are refused with their key path."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from storelens.cli import main
from storelens.config import StorelensConfig, load_config, parse_config
from storelens.errors import ConfigError


def test_defaults_validate() -> None:
    cfg = StorelensConfig()
    assert cfg.edge.faces.type == "yunet"
    assert cfg.edge.persons.type == "yolox"


@pytest.mark.parametrize(
    ("raw", "expected_fragment"),
    [
        ({"edge": {"facez": {}}}, "edge.facez: value={...}: Extra inputs are not permitted"),
        ({"edge": {"faces": {"type": "haar"}}}, "edge.faces: value={...}: Input tag 'haar'"),
        ({"edge": {"faces": {"type": "yunet", "score_threshold": 2}}}, "edge.faces.yunet.score_threshold: value=2"),
        ({"timezone": "Mars/Olympus"}, "timezone: value='Mars/Olympus'"),
        ({"edge": {"window_minutes": 0}}, "edge.window_minutes: value=0"),
        ({"store_id": "bad id!"}, "store_id: value='bad id!'"),
    ],
)
def test_errors_name_key_path_value_and_reason(raw: dict, expected_fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, "cfg.yaml")
    assert expected_fragment in str(err.value)
    assert str(err.value).startswith("cfg.yaml: ")


def test_every_error_listed_not_only_the_first() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"edge": {"window_minutes": 0, "bogus": 1}, "timezone": "Nowhere/X"}, "c.yaml")
    assert len(str(err.value).splitlines()) == 3


def _walk(model: type[BaseModel], path: str = ""):
    for name, field in model.model_fields.items():
        yield f"{path}{name}", field
        for arg in getattr(field.annotation, "__args__", ()) or (field.annotation,):
            for sub in getattr(arg, "__args__", ()) or (arg,):
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    yield from _walk(sub, f"{path}{name}.")


def test_every_field_is_described() -> None:
    undescribed = [path for path, field in _walk(StorelensConfig) if not field.description]
    assert undescribed == []


def test_cli_validate_prints_each_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("edge:\n  window_minutes: -3\n  faces: {type: yunet, score_threshold: 7}\n")
    assert main(["config", "validate", str(bad)]) == 3
    err = capsys.readouterr().err
    assert "edge.window_minutes: value=-3" in err
    assert "edge.faces.yunet.score_threshold: value=7" in err


def test_cli_validate_reports_yaml_syntax_with_line(tmp_path, capsys) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("edge:\n  faces: [unclosed\n")
    assert main(["config", "validate", str(bad)]) == 3
    assert "broken.yaml: line" in capsys.readouterr().err


def test_missing_file_is_one_line(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_backend_type_defaults_when_omitted() -> None:
    cfg = parse_config({"edge": {"faces": {"score_threshold": 0.7}, "persons": {"type": "nanodet"}}})
    assert (cfg.edge.faces.type, cfg.edge.faces.score_threshold) == ("yunet", 0.7)
    assert cfg.edge.persons.type == "nanodet"


def test_camera_sections_override_edge_wide_ones() -> None:
    from storelens.config.edge import for_camera

    cfg = parse_config({
        "edge": {
            "enhance": {"mode": "off"},
            "analytics": {"lines": [{"start": [0, 100], "end": [640, 100]}]},
            "cameras": [
                {"id": "door", "url": "a.mp4", "enhance": {"mode": "always"}},
                {"id": "floor", "url": "b.mp4"},
            ],
        }
    })
    door, floor = cfg.edge.cameras
    assert for_camera(cfg, door).edge.enhance.mode == "always"
    assert for_camera(cfg, door).edge.analytics.lines[0].end == cfg.edge.analytics.lines[0].end
    assert for_camera(cfg, floor) is cfg


def test_default_files_live_under_storelens_home_not_the_working_directory(tmp_path, monkeypatch) -> None:
    from cloud_sync.db.engine import database_engine, init_db

    monkeypatch.setenv("STORELENS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    cfg = StorelensConfig()
    assert cfg.cloud.broker_dir == tmp_path / "home" / "broker"
    init_db(database_engine(cfg))  # creates the missing directory
    assert (tmp_path / "home" / "storelens.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]
