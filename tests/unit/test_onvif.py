"""ONVIF: WS-Security digest, the imaging service against a local SOAP endpoint, WS-Discovery on loopback.

The SOAP endpoint is a tiny HTTP server in the test that speaks GetSystemDateAndTime (without
authentication), GetServices, GetVideoSources, Get/SetImagingSettings and checks every other
request's UsernameToken digest and that its Created lies within a few seconds of the camera's own
clock, as a camera does; the fake camera's clock can be set off the box's.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edge_agent.technician.onvif import (
    NS,
    OnvifCamera,
    OnvifError,
    envelope,
    imaging_body,
    parse_system_time,
    password_digest,
    security_header,
)
from edge_agent.technician.wsdiscovery import discover, parse_probe_matches, probe_message
from storelens.cli import main
from storelens.errors import InputError

USER, PASSWORD = "installer", "Cam-Secret-1"
WSSE = {"wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
        "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"}


def test_password_digest_matches_the_onvif_programmers_guide_example():
    nonce = base64.b64decode("LKqI6G/AikKCQrN0zqZFlg==")
    assert password_digest(nonce, "2010-09-16T07:50:45Z", "userpassword") == "tuOSpGlFlIXsozq4HFNeeGeFLEI="


def test_security_header_is_fresh_and_never_carries_the_password():
    first, second = security_header(USER, PASSWORD), security_header(USER, PASSWORD)
    assert PASSWORD not in first and first != second  # new nonce every request (replay protection)


@pytest.mark.parametrize("backlight,wdr,level,present,absent", [
    (True, None, None, ["<tt:BacklightCompensation><tt:Mode>ON</tt:Mode></tt:BacklightCompensation>"], ["WideDynamicRange"]),
    (None, True, 60, ["<tt:WideDynamicRange><tt:Mode>ON</tt:Mode><tt:Level>60</tt:Level>"], ["Backlight"]),
    (False, False, 50, ["<tt:Mode>OFF</tt:Mode></tt:BacklightCompensation>", "<tt:Mode>OFF</tt:Mode></tt:WideDynamicRange>"],
     ["<tt:Level>"]),
])
def test_set_imaging_body_sends_only_what_changes(backlight, wdr, level, present, absent):
    body = imaging_body("VS<1>", backlight=backlight, wdr=wdr, level=level)
    assert "<timg:VideoSourceToken>VS&lt;1&gt;</timg:VideoSourceToken>" in body
    assert all(p in body for p in present) and not any(a in body for a in absent)
    if backlight is not None and wdr is not None:  # ONVIF schema order
        assert body.index("BacklightCompensation") < body.index("WideDynamicRange")


class FakeCamera:
    """State and message handling of the fake device; the HTTP layer is below."""

    WINDOW_S = 5.0  # how far a token's Created may be from the camera's clock (cameras allow a few seconds)

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.settings = {"BacklightCompensation": ("OFF", "0"), "WideDynamicRange": ("OFF", "50")}
        self.requests: list[str] = []
        self.clock_offset = timedelta(0)  # the camera's clock minus the real time
        self.tells_time = True
        self.refused_for_time = 0

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def open_operation(self, root: ET.Element) -> bool:
        """ONVIF lets GetSystemDateAndTime through unauthenticated, so clients can learn the clock."""
        return root.find("s:Body/tds:GetSystemDateAndTime", NS) is not None

    def authorised(self, root: ET.Element) -> bool:
        token = root.find("s:Header/wsse:Security/wsse:UsernameToken", {**NS, **WSSE})
        if token is None or token.findtext("wsse:Username", "", WSSE) != USER:
            return False
        nonce = base64.b64decode(token.findtext("wsse:Nonce", "", WSSE))
        created = token.findtext("wsu:Created", "", WSSE)
        if token.findtext("wsse:Password", "", WSSE) != password_digest(nonce, created, PASSWORD):
            return False
        skew = abs((self.now() - datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds())
        self.refused_for_time += skew > self.WINDOW_S
        return skew <= self.WINDOW_S

    def answer(self, path: str, root: ET.Element) -> str:
        op = root.find("s:Body", NS)[0]
        name = op.tag.split("}")[1]
        self.requests.append(f"{path} {name}")
        if name == "GetSystemDateAndTime":
            if not self.tells_time:
                raise ValueError("ter:ActionNotSupported: not implemented")
            n = self.now()
            return ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType>"
                    f"<tt:UTCDateTime><tt:Time><tt:Hour>{n.hour}</tt:Hour><tt:Minute>{n.minute}</tt:Minute>"
                    f"<tt:Second>{n.second}</tt:Second></tt:Time><tt:Date><tt:Year>{n.year}</tt:Year>"
                    f"<tt:Month>{n.month}</tt:Month><tt:Day>{n.day}</tt:Day></tt:Date></tt:UTCDateTime>"
                    "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")
        if name == "GetServices":
            return ("<tds:GetServicesResponse>" + "".join(
                f"<tds:Service><tds:Namespace>{NS[k]}</tds:Namespace><tds:XAddr>{self.base}/onvif/{k}</tds:XAddr></tds:Service>"
                for k in ("tds", "trt", "timg")) + "</tds:GetServicesResponse>")
        if name == "GetVideoSources":
            return '<trt:GetVideoSourcesResponse><trt:VideoSources token="VS_1"/></trt:GetVideoSourcesResponse>'
        if op.findtext("timg:VideoSourceToken", "", NS) != "VS_1":
            raise ValueError("ter:InvalidArgVal: no such video source")
        if name == "SetImagingSettings":
            for tag in self.settings:
                part = op.find(f"timg:ImagingSettings/tt:{tag}", NS)
                if part is not None:
                    self.settings[tag] = (part.findtext("tt:Mode", "", NS), part.findtext("tt:Level", self.settings[tag][1], NS))
            return "<timg:SetImagingSettingsResponse/>"
        parts = "".join(f"<tt:{t}><tt:Mode>{m}</tt:Mode><tt:Level>{lv}</tt:Level></tt:{t}>" for t, (m, lv) in self.settings.items())
        return f"<timg:GetImagingSettingsResponse><timg:ImagingSettings>{parts}</timg:ImagingSettings></timg:GetImagingSettingsResponse>"


def _soap(body: str) -> bytes:
    ns = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())
    return f'<?xml version="1.0"?><s:Envelope {ns}><s:Body>{body}</s:Body></s:Envelope>'.encode()


def _fault(subcode: str, text: str) -> bytes:
    return _soap(f"<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
                 f"<s:Reason><s:Text xml:lang=\"en\">{text}</s:Text></s:Reason></s:Fault>")


@pytest.fixture
def camera():
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            fake: FakeCamera = state["camera"]
            root = ET.fromstring(self.rfile.read(int(self.headers["Content-Length"])))
            if not fake.open_operation(root) and not fake.authorised(root):
                return self._reply(400, _fault("ter:NotAuthorized", "Sender not Authorized"))
            try:
                self._reply(200, _soap(fake.answer(self.path, root)))
            except ValueError as exc:
                code, _, text = str(exc).partition(": ")
                self._reply(400, _fault(code, text))

        def _reply(self, status, data):
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["camera"] = FakeCamera(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["camera"]
    server.shutdown()
    server.server_close()


def test_read_then_switch_on_wdr_and_backlight(camera):
    client = OnvifCamera(f"{camera.base}/onvif/device_service", USER, PASSWORD)
    token = client.video_source_token()
    assert token == "VS_1"
    assert client.get_imaging(token).wdr_mode == "OFF"
    client.set_imaging(token, backlight=True, wdr=True, level=70)
    got = client.get_imaging(token)
    assert (got.backlight_mode, got.backlight_level, got.wdr_mode, got.wdr_level) == ("ON", 70.0, "ON", 70.0)
    assert camera.requests[:2] == ["/onvif/device_service GetSystemDateAndTime", "/onvif/device_service GetServices"]
    assert "/onvif/timg SetImagingSettings" in camera.requests  # went to the advertised imaging XAddr


@pytest.mark.parametrize("drift", [timedelta(hours=3), timedelta(minutes=-47), timedelta(days=-400),
                                   timedelta(seconds=30)])
def test_a_camera_whose_clock_drifted_still_accepts_us(camera, drift):
    camera.clock_offset = drift
    client = OnvifCamera(f"{camera.base}/onvif/device_service", USER, PASSWORD)
    assert client.video_source_token() == "VS_1"
    client.set_imaging("VS_1", wdr=True)
    assert camera.settings["WideDynamicRange"][0] == "ON" and camera.refused_for_time == 0
    assert abs((client.clock_offset - drift).total_seconds()) < 2  # the camera reports whole seconds
    assert camera.requests[0] == "/onvif/device_service GetSystemDateAndTime"
    assert sum("GetSystemDateAndTime" in r for r in camera.requests) == 1  # read once per client


def test_the_fake_camera_really_refuses_a_token_from_another_time(camera):
    camera.clock_offset = timedelta(minutes=10)
    header = security_header(USER, PASSWORD)  # the box's clock: 10 minutes behind the camera
    root = ET.fromstring(envelope("<tds:GetServices/>", header))
    assert not camera.authorised(root) and camera.refused_for_time == 1
    root = ET.fromstring(envelope("<tds:GetServices/>", security_header(USER, PASSWORD,
                                                                       clock_offset=timedelta(minutes=10))))
    assert camera.authorised(root)


def test_a_camera_that_does_not_tell_its_time_is_signed_with_ours(camera):
    camera.tells_time = False
    client = OnvifCamera(f"{camera.base}/onvif/device_service", USER, PASSWORD)
    assert client.video_source_token() == "VS_1" and client.clock_offset == timedelta(0)


def test_system_time_parse_refuses_nonsense():
    reply = ET.fromstring(_soap("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:UTCDateTime>"
                                "<tt:Time><tt:Hour>25</tt:Hour><tt:Minute>0</tt:Minute><tt:Second>0</tt:Second></tt:Time>"
                                "<tt:Date><tt:Year>2026</tt:Year><tt:Month>1</tt:Month><tt:Day>1</tt:Day></tt:Date>"
                                "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"))
    assert parse_system_time(reply) is None


def test_wrong_password_is_one_clear_error(camera):
    client = OnvifCamera(f"{camera.base}/onvif/device_service", USER, "wrong")
    with pytest.raises(OnvifError, match=r"ONVIF GetServices refused \(HTTP 400\): ter:NotAuthorized: Sender not Authorized"):
        client.video_source_token()


def test_unknown_token_fault_names_the_reason(camera):
    client = OnvifCamera(f"{camera.base}/onvif/device_service", USER, PASSWORD)
    with pytest.raises(OnvifError, match="InvalidArgVal: no such video source"):
        client.get_imaging("nope")


def test_unreachable_camera_is_one_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(OnvifError, match=rf"camera http://127.0.0.1:{port}/onvif/device_service: ONVIF device unreachable"):
        OnvifCamera(f"http://127.0.0.1:{port}/onvif/device_service", USER, PASSWORD, timeout_s=2).video_source_token()


def test_imaging_cli_sets_and_prints_json(camera, monkeypatch, capsys):
    monkeypatch.setenv("STORELENS_ONVIF_PASSWORD", PASSWORD)
    rc = main(["camera", "imaging", f"{camera.base}/onvif/device_service", "--user", USER, "--wdr", "on", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["wdr_mode"] == "ON" and out["backlight_mode"] == "OFF" and out["token"] == "VS_1"


def test_imaging_cli_bad_password_is_one_line(camera, monkeypatch, capsys):
    monkeypatch.setenv("STORELENS_ONVIF_PASSWORD", "wrong")
    assert main(["camera", "imaging", f"{camera.base}/onvif/device_service", "--user", USER]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("storelens: error: camera http://127.0.0.1:") and "NotAuthorized" in err[0]
    assert camera.settings["WideDynamicRange"] == ("OFF", "50")  # nothing changed


# --- WS-Discovery ---------------------------------------------------------------------------------

def _probe_match(relates_to: str, uuid: str, xaddr: str, name: str) -> bytes:
    return f"""<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
 xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">
<s:Header><a:RelatesTo>{relates_to}</a:RelatesTo></s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>
<a:EndpointReference><a:Address>urn:uuid:{uuid}</a:Address></a:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter</d:Types>
<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/{name} onvif://www.onvif.org/hardware/DS-2CD2143</d:Scopes>
<d:XAddrs>{xaddr}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>""".encode()


@pytest.fixture
def responder():
    """A camera's WS-Discovery side on loopback: answers each Probe once, plus noise it must ignore."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    probes: list[bytes] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, sender = sock.recvfrom(65535)
            except TimeoutError:
                continue
            probes.append(data)
            message_id = ET.fromstring(data).findtext(".//{http://schemas.xmlsoap.org/ws/2004/08/addressing}MessageID")
            sock.sendto(b"<not xml", sender)
            sock.sendto(_probe_match("urn:uuid:someone-elses-probe", "0000", "http://10.9.9.9/x", "Other"), sender)
            sock.sendto(_probe_match(message_id, "1111", "http://127.0.0.1:8080/onvif/device_service", "Entrance%20Cam"), sender)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], probes
    stop.set()
    thread.join()
    sock.close()


def test_discover_finds_the_camera_once_and_ignores_noise(responder):
    port, probes = responder
    devices = discover("127.0.0.1", port, timeout_s=1.0)
    assert [(d.endpoint, d.name, d.hardware, d.xaddrs) for d in devices] == [
        ("urn:uuid:1111", "Entrance Cam", "DS-2CD2143", ("http://127.0.0.1:8080/onvif/device_service",))]
    assert len(probes) == 2 and b"NetworkVideoTransmitter" in probes[0]


def test_discover_cli_json(responder, capsys):
    port, _ = responder
    assert main(["camera", "discover", "--address", "127.0.0.1", "--port", str(port), "--wait", "1", "--json"]) == 0
    assert [d["name"] for d in json.loads(capsys.readouterr().out)] == ["Entrance Cam"]


def test_parse_probe_matches_refuses_entity_expansion():
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>'
    assert parse_probe_matches(bomb, "urn:uuid:x", "10.0.0.1") == []
    assert b"urn:uuid:abc" in probe_message("urn:uuid:abc")


def test_discover_unsendable_target_is_one_clear_error():
    with pytest.raises(InputError, match=r"ws-discovery: cannot send a probe to 256.1.1.1:3702"):
        discover("256.1.1.1", 3702, timeout_s=0.2)
