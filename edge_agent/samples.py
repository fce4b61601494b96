"""Sample videos for `storelens analyze` and the benchmark: fetched once, checked by sha256, cached.

Like the models, a sample comes from its public upstream on a user's machine; a local mirror
(`--from DIR_OR_URL`, or the development mirror ../shared/media/video) stands in for it. Each sample
ships with a scene config (entrance line, zones, floor calibration) as package data beside this file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from storelens.errors import InputError
from storelens.fetch import fetch_verified, mirror_source, sha256_of
from storelens.paths import data_dir, shared_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleVideo:
    name: str
    file: str
    sha256: str
    config: str  # package-data YAML beside this module
    url: str | None  # public upstream; None when only mirrors carry this exact encoding
    frames: int
    fps: float


def samples() -> dict[str, SampleVideo]:
    pets = SampleVideo(
        name="pets2009",
        file="vtest_pets2009_480x360.avi",
        sha256="c766ad7c74437e27eada5596eef024d756d3e7673fc0779e8319d51e262b6153",
        config="samples_pets2009.yaml",
        url=None,
        frames=795,
        fps=10.0,
    )
    return {pets.name: pets}


def get_sample(name: str = "pets2009") -> SampleVideo:
    known = samples()
    if name not in known:
        raise InputError(f"unknown sample '{name}': known samples are {', '.join(sorted(known))}")
    return known[name]


def sample_config_path(sample: SampleVideo) -> Path:
    return Path(__file__).with_name(sample.config)


def _source_for(sample: SampleVideo, mirror: str | None) -> str | None:
    if mirror is not None:
        return mirror_source(mirror, sample.file)
    shared = shared_dir()
    local = shared / "media" / "video" / sample.file if shared else None
    return str(local) if local and local.is_file() else sample.url


def fetch_sample(sample: SampleVideo, mirror: str | None = None, cache: Path | None = None) -> Path:
    """The verified local path of the sample, downloading (or copying from a mirror) on first use."""
    dest = (cache or data_dir() / "samples") / sample.file
    if dest.is_file() and sha256_of(dest) == sample.sha256:
        return dest
    source = _source_for(sample, mirror)
    if source is None:
        raise InputError(f"sample '{sample.name}' has no public upstream here; pass --from DIR_OR_URL holding {sample.file}")
    fetch_verified(source, dest, sample.sha256, what=f"sample '{sample.name}'", error=InputError)
    log.info("sample %s verified and cached at %s", sample.name, dest)
    return dest
