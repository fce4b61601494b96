"""storelens.files.write_atomic: the whole new content or the old one, and one error line."""

from __future__ import annotations

import pytest

from storelens.errors import ConfigError, InputError
from storelens.files import write_atomic


def test_replaces_content_and_leaves_no_temporary_file(tmp_path) -> None:
    target = tmp_path / "a.yaml"
    target.write_text("old: 1\n")
    write_atomic(target, b"new: 2\n", what="config")
    assert target.read_text() == "new: 2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"]


@pytest.mark.parametrize("error", [InputError, ConfigError])
def test_failure_names_what_and_where_and_cleans_up(tmp_path, error) -> None:
    target = tmp_path / "taken"
    target.mkdir()  # a directory cannot be replaced by a file: the rename fails after the write
    (target / "keep").write_text("x")
    with pytest.raises(error) as info:
        write_atomic(target, b"data", what="snapshot", error=error)
    message = str(info.value)
    assert message.startswith(f"snapshot {target}: cannot write: ") and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert (target / "keep").read_text() == "x"


def test_missing_directory_is_one_line(tmp_path) -> None:
    target = tmp_path / "no" / "such" / "dir.png"
    with pytest.raises(InputError, match=r"^snapshot .*dir\.png: cannot write: No such file or directory$"):
        write_atomic(target, b"png", what="snapshot")
