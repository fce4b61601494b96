"""A TLS verification failure says so, naming the CA file and the host, and is never reported as
"broker down or unreachable"; a broker that really is down still reads as one."""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import replace

import pytest

from cloud_sync.tls import make_dev_tls
from devkit.servers.process import free_port
from storelens.mqttlink import LinkSettings, MqttLink
from tests.servers import wait_for

pytestmark = pytest.mark.integration


def _failure(caplog, settings: LinkSettings) -> str:
    link = MqttLink(settings)
    with caplog.at_level(logging.ERROR, logger="storelens.mqttlink"):
        link.start()
        try:
            wait_for(lambda: any("unavailable" in r.getMessage() for r in caplog.records), 15, "the failure line")
        finally:
            link.stop()
    [line] = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    return line


def _settings(port: int, **extra) -> LinkSettings:
    return LinkSettings(host="127.0.0.1", port=port, client_id="probe", username="edge-001", password="x",
                        reconnect_min_s=30, reconnect_max_s=30, **extra)


def test_an_untrusted_broker_certificate_is_a_tls_error(fleet, tmp_path, caplog) -> None:
    other_ca = make_dev_tls(tmp_path / "other-ca").ca_cert  # a CA that did not sign the broker's certificate
    line = _failure(caplog, _settings(fleet.broker.port, ca_file=other_ca))
    print(line)
    assert "TLS certificate verification failed for 127.0.0.1:" in line
    assert str(other_ca) in line and "broker down" not in line


def _loopback_alias() -> str | None:
    """A name of this machine that reaches 127.0.0.1 but is not on the dev certificate."""
    name = socket.gethostname()
    try:
        return name if name != "localhost" and socket.gethostbyname(name).startswith("127.0.0.1") else None
    except OSError:
        return None


def test_a_wrong_host_name_is_a_tls_error_naming_the_host(fleet, caplog) -> None:
    alias = _loopback_alias()
    if alias is None:
        pytest.skip("this machine's host name does not resolve to 127.0.0.1")
    settings = replace(_settings(fleet.broker.port, ca_file=fleet.broker.files.tls.ca_cert), host=alias)
    line = _failure(caplog, settings)
    print(line)
    assert f"TLS certificate verification failed for {alias}:" in line and "Hostname mismatch" in line


def test_a_closed_port_still_reads_as_broker_down(caplog) -> None:
    port = free_port()
    started = time.monotonic()
    line = _failure(caplog, _settings(port))
    assert f"connection to 127.0.0.1:{port} refused (broker down" in line and time.monotonic() - started < 15
