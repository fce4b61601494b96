"""Sample videos are fetched from a mirror and used only when their sha256 matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.samples import fetch_sample, get_sample
from storelens.errors import InputError


def test_fetch_from_mirror_verifies_and_caches(tmp_path: Path, media_dir: Path) -> None:
    sample = get_sample("pets2009")
    path = fetch_sample(sample, mirror=str(media_dir / "video"), cache=tmp_path)
    assert path == tmp_path / sample.file and path.stat().st_size > 1_000_000
    assert fetch_sample(sample, mirror="/nonexistent", cache=tmp_path) == path  # cached copy verified, no fetch


def test_corrupt_mirror_copy_is_refused_and_nothing_left(tmp_path: Path) -> None:
    sample = get_sample("pets2009")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / sample.file).write_bytes(b"\x00" * 1024)
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match="sample 'pets2009' from .* has sha256 .*not installed"):
        fetch_sample(sample, mirror=str(mirror), cache=cache)
    assert list(cache.iterdir()) == []


def test_unknown_sample_names_the_known_ones() -> None:
    with pytest.raises(InputError, match="known samples are pets2009"):
        get_sample("nope")
