"""Config section `ops`: the /metrics and /healthz endpoint of each long-lived service.

`storelens edge run`, `storelens sync run` and `storelens cloud ingest` each serve Prometheus
metrics and a health check on their own port; the dashboard serves both on its own web port.
Loopback by default: a Prometheus agent on the box (or an SSH tunnel) scrapes them, nothing on the
store LAN can.
"""

from __future__ import annotations

from pydantic import Field

from storelens.config.base import StrictModel


class OpsConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Address the services' /metrics and /healthz endpoints bind to "
                      "(loopback by default; 0.0.0.0 exposes them to the network).")
    edge_port: int = Field(9471, ge=0, le=65535, description="Port of `storelens edge run` (0 = no endpoint).")
    sync_port: int = Field(9472, ge=0, le=65535, description="Port of `storelens sync run` (0 = no endpoint).")
    ingest_port: int = Field(9473, ge=0, le=65535, description="Port of `storelens cloud ingest` (0 = no endpoint; "
                             "several workers on one host each take their own with --metrics-port).")
    stale_s: float = Field(60.0, gt=0, le=86_400, description="/healthz fails when a camera has delivered no frame "
                           "for this long, or a service loop has not come round for this long.")
    stuck_s: float = Field(120.0, gt=0, le=86_400, description="A pipeline stage still running after this long "
                           "counts as hung: the systemd watchdog is no longer fed and systemd restarts the service.")
