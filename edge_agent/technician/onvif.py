"""`storelens camera imaging`: read or set backlight compensation and WDR over ONVIF.

SOAP 1.2 over HTTP with a WS-Security UsernameToken (PasswordDigest =
Base64(SHA1(nonce + created + password))), as ONVIF Core requires; cameras that insist on HTTP
Digest instead get it from urllib's digest handler. A camera refuses a token whose `Created` is
outside a few seconds of its own clock, and installed cameras often run minutes or hours off (no
NTP on the store LAN), so the camera's time is read first with the unauthenticated
GetSystemDateAndTime and every token is stamped in the camera's time (as onvif-zeep does). Plain urllib + defusedxml rather than zeep:
four small fixed messages, no WSDL download from onvif.org at run time (stores are often offline),
and no new dependency tree on the edge box.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from defusedxml import ElementTree

from storelens.errors import InputError

log = logging.getLogger(__name__)

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
NONCE_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TIMG = "http://www.onvif.org/ver20/imaging/wsdl"
TT = "http://www.onvif.org/ver10/schema"
NS = {"s": SOAP, "tds": TDS, "trt": TRT, "timg": TIMG, "tt": TT}


class OnvifError(InputError):
    """The camera refused or did not answer an ONVIF request."""


def password_digest(nonce: bytes, created: str, password: str) -> str:
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def stamp(moment: datetime) -> str:
    """WS-Security `Created`: UTC, millisecond precision, Z suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def security_header(username: str, password: str, *, nonce: bytes | None = None, created: str | None = None,
                    clock_offset: timedelta = timedelta(0)) -> str:
    """A UsernameToken; `clock_offset` (camera clock minus ours) stamps it in the camera's time."""
    nonce = nonce if nonce is not None else os.urandom(16)
    created = created or stamp(datetime.now(UTC) + clock_offset)
    return (
        f'<wsse:Security s:mustUnderstand="1" xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
        f"<wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{DIGEST_TYPE}">{password_digest(nonce, created, password)}</wsse:Password>'
        f'<wsse:Nonce EncodingType="{NONCE_TYPE}">{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def envelope(body: str, header: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP}" xmlns:tds="{TDS}" '
            f'xmlns:trt="{TRT}" xmlns:timg="{TIMG}" xmlns:tt="{TT}"><s:Header>{header}</s:Header>'
            f"<s:Body>{body}</s:Body></s:Envelope>").encode()


@dataclass(frozen=True)
class ImagingSettings:
    backlight_mode: str | None  # "ON" / "OFF"
    backlight_level: float | None
    wdr_mode: str | None
    wdr_level: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def _float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def parse_imaging(root) -> ImagingSettings:
    settings = root.find("s:Body/timg:GetImagingSettingsResponse/timg:ImagingSettings", NS)
    if settings is None:
        raise ValueError("no ImagingSettings in the reply")
    return ImagingSettings(
        backlight_mode=settings.findtext("tt:BacklightCompensation/tt:Mode", None, NS),
        backlight_level=_float(settings.findtext("tt:BacklightCompensation/tt:Level", None, NS)),
        wdr_mode=settings.findtext("tt:WideDynamicRange/tt:Mode", None, NS),
        wdr_level=_float(settings.findtext("tt:WideDynamicRange/tt:Level", None, NS)),
    )


def parse_system_time(root) -> datetime | None:
    """The camera's UTC time from a GetSystemDateAndTime reply (None when it gives none)."""
    utc = root.find("s:Body/tds:GetSystemDateAndTimeResponse/tds:SystemDateAndTime/tt:UTCDateTime", NS)
    if utc is None:
        return None
    parts = [utc.findtext(f"tt:{where}/tt:{name}", None, NS) for where, name in (
        ("Date", "Year"), ("Date", "Month"), ("Date", "Day"), ("Time", "Hour"), ("Time", "Minute"), ("Time", "Second"))]
    try:
        return datetime(*(int(p) for p in parts), tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def imaging_body(token: str, *, backlight: bool | None, wdr: bool | None, level: float | None) -> str:
    """SetImagingSettings with only the parts being changed (schema order: BLC before WDR)."""
    parts = []
    for tag, on in (("BacklightCompensation", backlight), ("WideDynamicRange", wdr)):
        if on is not None:
            lvl = f"<tt:Level>{level:g}</tt:Level>" if level is not None and on else ""
            parts.append(f"<tt:{tag}><tt:Mode>{'ON' if on else 'OFF'}</tt:Mode>{lvl}</tt:{tag}>")
    return (f"<timg:SetImagingSettings><timg:VideoSourceToken>{escape(token)}</timg:VideoSourceToken>"
            f"<timg:ImagingSettings>{''.join(parts)}</timg:ImagingSettings>"
            "<timg:ForcePersistence>true</timg:ForcePersistence></timg:SetImagingSettings>")


class OnvifCamera:
    """One camera's device service; finds its media and imaging services through GetServices."""

    def __init__(self, device_url: str, username: str, password: str, timeout_s: float = 5.0) -> None:
        self.device_url, self.timeout_s = device_url, timeout_s
        self._username, self._password = username, password
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, device_url, username, password)
        self._opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(manager))
        self._services: dict[str, str] | None = None
        self._offset: timedelta | None = None

    @property
    def clock_offset(self) -> timedelta:
        """Camera clock minus ours, read once with the unauthenticated GetSystemDateAndTime."""
        if self._offset is None:
            self._offset = self._read_offset()
        return self._offset

    def _read_offset(self) -> timedelta:
        before = time.time()
        try:
            root = self.call(self.device_url, f"{TDS}/GetSystemDateAndTime", "<tds:GetSystemDateAndTime/>",
                             signed=False)
        except OnvifError as exc:
            log.info("camera %s: cannot read its clock (%s); signing with this box's", self.device_url, exc)
            return timedelta(0)
        theirs = parse_system_time(root)
        if theirs is None:
            log.info("camera %s: reports no UTC time; signing with this box's clock", self.device_url)
            return timedelta(0)
        ours = datetime.fromtimestamp((before + time.time()) / 2, UTC)  # the reply was made about mid-way
        offset = theirs - ours
        if abs(offset) > timedelta(seconds=5):
            log.warning("camera %s: its clock is %+.0f s off this box's; signing in the camera's time (set up NTP "
                        "on the camera for correct image timestamps)", self.device_url, offset.total_seconds())
        return offset

    def call(self, url: str, action: str, body: str, *, signed: bool = True):
        """POST one SOAP request; the parsed reply, or OnvifError naming the camera and the action."""
        header = security_header(self._username, self._password, clock_offset=self.clock_offset) if signed else ""
        data = envelope(body, header)
        request = urllib.request.Request(url, data=data, headers={
            "Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'})
        name = action.rsplit("/", 1)[-1]
        try:
            with self._opener.open(request, timeout=self.timeout_s) as reply:
                return ElementTree.fromstring(reply.read())
        except urllib.error.HTTPError as exc:
            raise OnvifError(f"camera {url}: ONVIF {name} refused (HTTP {exc.code}): {_fault(exc.read())}") from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise OnvifError(f"camera {url}: ONVIF device unreachable ({reason})") from None
        except ElementTree.ParseError as exc:
            raise OnvifError(f"camera {url}: ONVIF {name} reply is not XML ({exc})") from None

    def service_url(self, namespace: str) -> str:
        if self._services is None:
            root = self.call(self.device_url, f"{TDS}/GetServices",
                             "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>")
            self._services = {s.findtext("tds:Namespace", "", NS): s.findtext("tds:XAddr", "", NS)
                              for s in root.iterfind("s:Body/tds:GetServicesResponse/tds:Service", NS)}
        if not self._services.get(namespace):
            raise OnvifError(f"camera {self.device_url}: offers no {namespace.rsplit('/', 2)[-2]} service")
        return self._services[namespace]

    def video_source_token(self) -> str:
        root = self.call(self.service_url(TRT), f"{TRT}/GetVideoSources", "<trt:GetVideoSources/>")
        source = root.find("s:Body/trt:GetVideoSourcesResponse/trt:VideoSources", NS)
        if source is None or not source.get("token"):
            raise OnvifError(f"camera {self.device_url}: reports no video source")
        return source.get("token")

    def get_imaging(self, token: str) -> ImagingSettings:
        body = f"<timg:GetImagingSettings><timg:VideoSourceToken>{escape(token)}</timg:VideoSourceToken></timg:GetImagingSettings>"
        root = self.call(self.service_url(TIMG), f"{TIMG}/GetImagingSettings", body)
        try:
            return parse_imaging(root)
        except ValueError as exc:
            raise OnvifError(f"camera {self.device_url}: GetImagingSettings: {exc}") from None

    def set_imaging(self, token: str, *, backlight: bool | None = None, wdr: bool | None = None,
                    level: float | None = None) -> None:
        if backlight is None and wdr is None:
            return
        self.call(self.service_url(TIMG), f"{TIMG}/SetImagingSettings",
                  imaging_body(token, backlight=backlight, wdr=wdr, level=level))
        log.info("camera %s: imaging set (backlight=%s, wdr=%s, level=%s)", self.device_url, backlight, wdr, level)


def _fault(data: bytes) -> str:
    """The human part of a SOAP Fault, or the start of whatever came back."""
    try:
        root = ElementTree.fromstring(data)
        text = root.findtext("s:Body/s:Fault/s:Reason/s:Text", None, NS)
        code = root.findtext("s:Body/s:Fault/s:Code/s:Subcode/s:Value", None, NS)
        if text or code:
            return ": ".join(t for t in (code, text) if t)
    except ElementTree.ParseError:
        pass
    return data[:120].decode(errors="replace").strip() or "no details"
