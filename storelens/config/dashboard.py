"""Config section `dashboard`."""

from __future__ import annotations

from pydantic import Field

from storelens.config.base import StrictModel
from storelens.facehealth import BACKLIGHT_PROBLEM_STOPS, SMALL_FACE_PROBLEM_FRACTION


class DashboardConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Address the dashboard listens on.")
    port: int = Field(8050, ge=1, le=65535, description="Port the dashboard listens on.")
    secret_env: str = Field(
        "STORELENS_SESSION_SECRET",
        pattern=r"^[A-Z_][A-Z0-9_]{0,63}$",
        description="Environment variable holding the session-signing secret (never put it in the YAML).",
    )
    secure_cookie: bool = Field(
        False, description="Send the session cookie over HTTPS only (always on in production mode, where a TLS "
        "proxy fronts the dashboard)."
    )
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="How long a log-in lasts.")
    proxy_hops: int = Field(
        0, ge=0, le=5, description="Reverse proxies in front of the dashboard whose X-Forwarded-For/-Proto to "
        "trust (1 behind one TLS proxy); log-in throttling then sees the client's address, not the proxy's.",
    )
    metrics_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Client networks allowed to read /metrics (a Prometheus server); others get 404. With "
        "proxy_hops the client is the one the proxy names.",
    )
    default_days: int = Field(7, ge=1, le=366, description="Date range shown when a page opens.")
    live_refresh_s: float = Field(
        60.0, ge=1, le=3600, description="How often the store page's 'today so far' numbers refresh, in seconds."
    )
    heartbeat_timeout_s: float = Field(
        180.0, gt=0, description="A device whose last heartbeat is older than this is shown as offline."
    )
    sync_overdue_h: float = Field(
        36.0, gt=0, description="A device that has delivered no aggregates for this long is flagged 'sync overdue'."
    )
    backlight_problem_stops: float = Field(
        BACKLIGHT_PROBLEM_STOPS, gt=0, description="Backlight score (stops faces sit under the background) that flags a camera."
    )
    small_face_problem_fraction: float = Field(
        SMALL_FACE_PROBLEM_FRACTION, gt=0, le=1, description="Share of too-small faces above which a camera is flagged."
    )
