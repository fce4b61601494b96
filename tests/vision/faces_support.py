"""Shared helpers for the face vision tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

from storelens.config import StorelensConfig, parse_config


def config_for(model_dir: Path, **edge) -> StorelensConfig:
    return parse_config({"models": {"dir": str(model_dir), "providers": ["cpu"]}, "edge": edge})
