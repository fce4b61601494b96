"""The one configuration tree, validated at start-up.

Each section is a pydantic model in its own module of this package (edge stages, sync, cloud,
dashboard); unknown keys are refused. `load_config` reads YAML and raises ConfigError whose text lists every problem as
`key.path: value=...: reason`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, ValidationError, field_validator

from storelens.config.alerts import AlertsConfig
from storelens.config.base import StrictModel
from storelens.config.cloud import CloudConfig
from storelens.config.dashboard import DashboardConfig
from storelens.config.edge import EdgeConfig
from storelens.config.models import ModelsConfig
from storelens.config.ops import OpsConfig
from storelens.config.sync import SyncConfig
from storelens.errors import ConfigError


class StorelensConfig(StrictModel):
    mode: Literal["development", "production"] = Field(
        "development", description="production refuses default credentials and secrets."
    )
    store_id: str = Field("store-001", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Store this device belongs to.")
    device_id: str = Field("edge-001", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="This edge box's id.")
    timezone: str = Field("UTC", description="Store's IANA time zone, for off-peak windows and opening hours.")
    models: ModelsConfig = Field(default_factory=ModelsConfig, description="Model directory and runtime.")
    edge: EdgeConfig = Field(default_factory=EdgeConfig, description="Cameras and the vision pipeline.")
    sync: SyncConfig = Field(default_factory=SyncConfig, description="Edge buffer and off-peak MQTT upload.")
    cloud: CloudConfig = Field(default_factory=CloudConfig, description="Cloud ingest and database.")
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig, description="Web dashboard.")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Alert webhooks and e-mails (cloud alerts run).")
    ops: OpsConfig = Field(default_factory=OpsConfig, description="/metrics and /healthz of each service.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


def format_errors(exc: ValidationError, source: str) -> list[str]:
    """One line per error: file: key.path: value=...: reason."""
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        lines.append(f"{source}: {path}: value={shown}: {err['msg']}")
    return lines


def parse_config(raw: Any, source: str = "<config>") -> StorelensConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(raw).__name__}")
    try:
        return StorelensConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("\n".join(format_errors(exc, source))) from None


SYSTEM_CONFIG = Path("/etc/storelens/storelens.yaml")


def user_config() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "storelens" / "storelens.yaml"


def config_search_order() -> list[tuple[str, Path | None]]:
    """Where a command without --config looks, first match wins: ($STORELENS_CONFIG, system, user)."""
    env = os.environ.get("STORELENS_CONFIG")
    return [("$STORELENS_CONFIG", Path(env).expanduser() if env else None),
            ("system", SYSTEM_CONFIG), ("user", user_config())]


def locate_config(explicit: str | Path | None) -> Path | None:
    """The config file a command uses: --config, else the search order; None = built-in defaults.

    A file named explicitly (by --config or $STORELENS_CONFIG) must exist; the system and user
    places are used only when present.
    """
    if explicit:
        return Path(explicit)
    for origin, path in config_search_order():
        if path is None:
            continue
        if origin == "$STORELENS_CONFIG" or path.is_file():
            return path
    return None


def load_config(path: str | Path | None) -> StorelensConfig:
    """Load and validate a YAML config; None gives the embedded defaults."""
    if path is None:
        return StorelensConfig()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config(raw, str(path))
