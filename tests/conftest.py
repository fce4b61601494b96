"""Shared fixtures: the media and model mirror beside the checkout, and a verified model directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from storelens.paths import shared_dir

SHARED = shared_dir()


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if SHARED is None or not (SHARED / "media").is_dir():
        pytest.fail("test media not found: expected ../shared/media beside the checkout (or $STORELENS_SHARED)")
    return SHARED / "media"


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models installed and verified through the product's own `pull`, from the local mirror."""
    from edge_agent.models import load_manifest, pull_model

    env_dir = os.environ.get("STORELENS_MODEL_DIR")
    target = Path(env_dir) if env_dir else tmp_path_factory.mktemp("models")
    mirror = SHARED / "models" if SHARED else None
    if mirror is None or not mirror.is_dir():
        pytest.fail("model mirror not found: expected ../shared/models beside the checkout")
    for spec in load_manifest().values():
        pull_model(spec, target, str(mirror))
    return target


@pytest.fixture(scope="session")
def models_cfg(model_dir: Path):
    from storelens.config.models import ModelsConfig

    return ModelsConfig(dir=model_dir, providers=["cpu"], allow_noncommercial=False)
