"""`storelens camera discover`: find ONVIF cameras with a WS-Discovery Probe (SOAP over UDP).

The probe goes to the WS-Discovery multicast group 239.255.255.250:3702 with TTL 1 (the store's
own network segment) unless another address is given; tests aim it at a responder on loopback.
Replies are matched to our probe by RelatesTo and parsed with defusedxml (they come from any
device on the LAN).
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote

from defusedxml import ElementTree

from storelens.errors import InputError

log = logging.getLogger(__name__)

MULTICAST_ADDRESS, PORT = "239.255.255.250", 3702
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
}
PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:d="{d}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<s:Header><a:Action s:mustUnderstand="1">{d}/Probe</a:Action><a:MessageID>{message_id}</a:MessageID>
<a:ReplyTo><a:Address>{a}/role/anonymous</a:Address></a:ReplyTo>
<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>
<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>"""


@dataclass(frozen=True)
class OnvifDevice:
    endpoint: str  # the device's stable id (urn:uuid:...)
    xaddrs: tuple[str, ...]  # device service URLs
    scopes: tuple[str, ...]
    sender: str  # IP address the reply came from

    @property
    def name(self) -> str:
        return self._scope("name")

    @property
    def hardware(self) -> str:
        return self._scope("hardware")

    def _scope(self, key: str) -> str:
        prefix = f"onvif://www.onvif.org/{key}/"
        return next((unquote(s[len(prefix):]) for s in self.scopes if s.startswith(prefix)), "")


def probe_message(message_id: str) -> bytes:
    return PROBE.format(message_id=message_id, **NS).encode()


def parse_probe_matches(data: bytes, message_id: str, sender: str) -> list[OnvifDevice]:
    """Devices in a ProbeMatches reply to `message_id`; [] for anything else (logged at debug)."""
    try:
        root = ElementTree.fromstring(data)
    except Exception as exc:  # defusedxml/expat raise several types for hostile or broken XML
        log.debug("ws-discovery: unparseable reply from %s: %s", sender, exc)
        return []
    if root.findtext("s:Header/a:RelatesTo", "", NS).strip() != message_id:
        return []
    devices = []
    for match in root.iterfind("s:Body/d:ProbeMatches/d:ProbeMatch", NS):
        devices.append(OnvifDevice(
            endpoint=match.findtext("a:EndpointReference/a:Address", "", NS).strip(),
            xaddrs=tuple(match.findtext("d:XAddrs", "", NS).split()),
            scopes=tuple(match.findtext("d:Scopes", "", NS).split()),
            sender=sender,
        ))
    return devices


def discover(address: str = MULTICAST_ADDRESS, port: int = PORT, timeout_s: float = 3.0,
             interface: str | None = None) -> list[OnvifDevice]:
    """Send one Probe (twice: UDP may lose it) and collect replies for `timeout_s`."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        if interface:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        try:
            for _ in range(2):
                sock.sendto(probe_message(message_id), (address, port))
        except OSError as exc:
            raise InputError(f"ws-discovery: cannot send a probe to {address}:{port}: {exc.strerror}") from None
        return _collect(sock, message_id, time.monotonic() + timeout_s)


def _collect(sock: socket.socket, message_id: str, deadline: float) -> list[OnvifDevice]:
    found: dict[str, OnvifDevice] = {}
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, (sender, _port) = sock.recvfrom(65535)
        except TimeoutError:
            break
        except OSError as exc:  # e.g. ICMP port unreachable reported on a unicast probe
            log.debug("ws-discovery: receive failed: %s", exc)
            continue
        for device in parse_probe_matches(data, message_id, sender):
            found.setdefault(device.endpoint or device.sender, device)
    return sorted(found.values(), key=lambda d: (d.sender, d.endpoint))
