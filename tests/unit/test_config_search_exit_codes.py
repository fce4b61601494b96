"""Where a command finds its config without --config, and the exit code of each kind of failure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import storelens.config.tree as tree
from storelens import errors
from storelens.cli import main
from storelens.config import locate_config

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture()
def places(tmp_path, monkeypatch):
    """System and user config places inside tmp_path; none of them exists yet."""
    system = tmp_path / "etc" / "storelens.yaml"
    monkeypatch.setattr(tree, "SYSTEM_CONFIG", system)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("STORELENS_CONFIG", raising=False)
    user = tmp_path / "xdg" / "storelens" / "storelens.yaml"
    return {"system": system, "user": user, "env": tmp_path / "env.yaml", "explicit": tmp_path / "explicit.yaml"}


def _write(path: Path, device: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"device_id: {device}\n")


@pytest.mark.parametrize(("present", "env", "explicit", "expected"), [
    ([], False, False, None),
    (["user"], False, False, "user"),
    (["system", "user"], False, False, "system"),
    (["env", "system", "user"], True, False, "env"),
    (["explicit", "env", "system", "user"], True, True, "explicit"),
])
def test_search_order(places, monkeypatch, present, env, explicit, expected) -> None:
    for name in present:
        _write(places[name], name)
    if env:
        monkeypatch.setenv("STORELENS_CONFIG", str(places["env"]))
    found = locate_config(str(places["explicit"]) if explicit else None)
    assert found == (places[expected] if expected else None)


def test_a_named_file_that_is_missing_is_an_error_not_a_fallback(places, monkeypatch, capsys) -> None:
    _write(places["system"], "system")
    monkeypatch.setenv("STORELENS_CONFIG", str(places["env"]))  # named, but not there
    assert locate_config(None) == places["env"]
    assert main(["config", "show"]) == errors.EXIT_CONFIG
    assert "cannot read config" in capsys.readouterr().err


def test_config_show_says_which_file_and_the_order(places, capsys) -> None:
    _write(places["user"], "edge-from-user")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"# config: {places['user']}"
    assert "$STORELENS_CONFIG (unset), then system" in out and "device_id: edge-from-user" in out


def test_every_command_takes_config_after_its_name(places, capsys) -> None:
    _write(places["explicit"], "edge-explicit")
    assert main(["config", "show", "--config", str(places["explicit"])]) == 0
    assert "device_id: edge-explicit" in capsys.readouterr().out


# --- exit codes -------------------------------------------------------------------------------


def test_the_readme_documents_the_codes_the_code_uses() -> None:
    section = README.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"`(\d+)`", section)}
    used = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    assert documented == used
    classes = [errors.ConfigError, errors.InputError, errors.ModelError, errors.UnavailableError, errors.UsageError]
    assert len({c.exit_code for c in classes}) == len(classes)  # distinct


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "storelens", *args], capture_output=True, text=True, timeout=120,
                          env=env)


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["no-such-command"], errors.EXIT_USAGE, "invalid choice"),
    (["faces", "x.jpg", "--no-such-option"], errors.EXIT_USAGE, "unrecognized arguments"),
    (["cloud", "ingest", "--metrics-port", "many"], errors.EXIT_USAGE, "invalid int value"),
])
def test_usage_errors_exit_2(argv, code, message) -> None:
    done = _cli(*argv)
    assert done.returncode == code and message in done.stderr


def test_bad_config_exits_3(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sync: {offpeak: ['25:00-06:00']}\n")
    assert main(["config", "show", "--config", str(bad)]) == errors.EXIT_CONFIG
    assert "sync.offpeak" in capsys.readouterr().err


def test_bad_input_exits_4(tmp_path, capsys) -> None:
    assert main(["analyze", str(tmp_path / "missing.mp4")]) == errors.EXIT_INPUT
    assert "no such file" in capsys.readouterr().err


def test_missing_model_exits_5(tmp_path, capsys) -> None:
    from storelens.paths import shared_dir

    image = shared_dir() / "media" / "faces" / "t1.jpg"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"models: {{dir: {tmp_path / 'no-models'}}}\n")
    code = main(["faces", str(image), "--config", str(cfg)])
    assert code == errors.EXIT_MODEL and "missing" in capsys.readouterr().err


def test_unavailable_dependency_exits_6(tmp_path, capsys) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"sync: {{redis_url: 'redis://127.0.0.1:{port}/0'}}\n")
    assert main(["sync", "status", "--config", str(cfg)]) == errors.EXIT_UNAVAILABLE
    assert capsys.readouterr().err.count("\n") == 1  # one line


def test_interrupted_exits_130(monkeypatch) -> None:
    import storelens.cli.cmd_config as cmd

    def interrupted(_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cmd, "_show", interrupted)
    assert main(["config", "show"]) == errors.EXIT_INTERRUPTED
