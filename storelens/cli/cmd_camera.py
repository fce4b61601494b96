"""`storelens camera probe|check|snapshot|calibrate|discover|imaging`: the installer's tools."""

from __future__ import annotations

import argparse
import json
import os
import sys

ONVIF_PASSWORD_ENV = "STORELENS_ONVIF_PASSWORD"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("camera", help="technician tools: probe, check, snapshot, calibrate, ONVIF")
    sub = parser.add_subparsers(dest="camera_command", required=True)
    _register_probe(sub)
    _register_check(sub)
    _register_snapshot(sub)
    _register_calibrate(sub)
    _register_discover(sub)
    _register_imaging(sub)


def _common(p: argparse.ArgumentParser, *, config: bool = False, json_out: bool = True) -> None:
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the camera (default 5)")
    if config:
        p.add_argument("--config", help="storelens config (models, face detector, lines/zones/homography)")
    if json_out:
        p.add_argument("--json", action="store_true", help="one JSON object instead of text")


def _register_probe(sub) -> None:
    p = sub.add_parser("probe", help="resolution, frame rate, codec and dropped frames of a camera/file")
    p.add_argument("url", help="rtsp://..., a USB device (0, /dev/video0) or a video file")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to read (default 5)")
    _common(p)
    p.set_defaults(func=_probe)


def _register_check(sub) -> None:
    p = sub.add_parser("check", help="run face detection and advise on placement, backlight, blur")
    p.add_argument("url")
    p.add_argument("--seconds", type=float, default=10.0, help="how long to watch (default 10)")
    _common(p, config=True)
    p.set_defaults(func=_check)


def _register_snapshot(sub) -> None:
    p = sub.add_parser("snapshot", help="one frame, faces and heads masked (any orientation; refused if it cannot be "
                                        "made safe), entrance line/zones/floor grid drawn")
    p.add_argument("url")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--camera", help="camera id in the config whose own lines/zones/floor grid to draw")
    _common(p, config=True, json_out=False)
    p.set_defaults(func=_snapshot)


def _register_calibrate(sub) -> None:
    p = sub.add_parser("calibrate", help="floor homography from >= 4 point pairs, written into the config")
    p.add_argument("--pair", action="append", default=[], metavar="x,y:X,Y",
                   help="image pixel x,y and floor metres X,Y (repeat, at least 4 in all)")
    p.add_argument("--points", help="file with one pair per line: x y X Y")
    p.add_argument("--floor-size", nargs=2, type=float, metavar=("W", "H"), help="floor plan size in metres")
    p.add_argument("--config", required=True, help="config YAML to write edge.analytics.homography into")
    p.add_argument("--camera", help="write into this camera's own analytics section (edge.cameras[id])")
    p.add_argument("--dry-run", action="store_true", help="report the error but do not write")
    p.add_argument("--force", action="store_true",
                   help="write even a fit above 1 m RMS (normally refused as a wrong pair)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_calibrate)


def _register_discover(sub) -> None:
    p = sub.add_parser("discover", help="find ONVIF cameras on the local network (WS-Discovery)")
    p.add_argument("--address", default="239.255.255.250", help="probe target (default: the WS-Discovery group)")
    p.add_argument("--port", type=int, default=3702)
    p.add_argument("--interface", help="local IPv4 address of the network card to probe from")
    p.add_argument("--wait", type=float, default=3.0, help="seconds to collect replies (default 3)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_discover)


def _register_imaging(sub) -> None:
    p = sub.add_parser("imaging", help="read or set backlight compensation / WDR (ONVIF imaging)")
    p.add_argument("device", help="ONVIF device service URL, e.g. http://10.0.0.21/onvif/device_service")
    p.add_argument("--user", required=True, help=f"ONVIF user (password from ${ONVIF_PASSWORD_ENV} or a prompt)")
    p.add_argument("--token", help="video source token (default: the camera's first video source)")
    p.add_argument("--backlight", choices=("on", "off"), help="set backlight compensation")
    p.add_argument("--wdr", choices=("on", "off"), help="set wide dynamic range")
    p.add_argument("--level", type=float, help="level for what is switched on (camera's range, often 0-100)")
    _common(p)
    p.set_defaults(func=_imaging)


def _quiet_video_backend(args: argparse.Namespace) -> None:
    # FFmpeg prints its own connection errors to stderr; the tools print one line of their own.
    if not getattr(args, "verbose", False):
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def _emit(args: argparse.Namespace, data: dict, text: list[str]) -> None:
    print(json.dumps(data) if args.json else "\n".join(text))


def _probe(args: argparse.Namespace) -> int:
    _quiet_video_backend(args)
    from edge_agent.technician.probe import probe

    r = probe(args.url, args.seconds, args.timeout)
    _emit(args, r.as_dict(), [
        f"source      {r.url} ({r.kind})", f"resolution  {r.width}x{r.height}", f"codec       {r.codec}",
        f"frame rate  {r.fps_declared:g} declared, {r.fps_measured:g} measured over {r.seconds:g} s ({r.frames} frames)",
        f"dropped     {r.dropped_frames} frames, {r.reconnects} reconnects",
    ])
    return 0


def _detector(args: argparse.Namespace):
    from edge_agent.detect.faces import build_face_detector
    from storelens.cli import load_cli_config

    cfg = load_cli_config(args)
    return cfg, build_face_detector(cfg.edge.faces, cfg.models)


def _check(args: argparse.Namespace) -> int:
    _quiet_video_backend(args)
    from edge_agent.technician.check import check

    cfg, detector = _detector(args)
    r = check(args.url, args.seconds, detector, cfg.edge.quality, args.timeout)
    _emit(args, r.as_dict(), [
        f"watched     {r.seconds:g} s, {r.frames} frames, faces in {r.frames_with_faces}",
        f"faces       {r.faces_seen} seen, median {_num(r.median_face_px, ' px')}",
        f"backlight   {_num(r.backlight_stops, ' stops')} (how much darker faces are than the background)",
        f"sharpness   {_num(r.median_sharpness)}",
        *[f"advice      {line}" for line in r.recommendations],
    ])
    return 0


def _num(value: float | None, unit: str = "") -> str:
    return "n/a" if value is None else f"{value:g}{unit}"


def _snapshot(args: argparse.Namespace) -> int:
    _quiet_video_backend(args)
    from pathlib import Path

    from edge_agent.technician.privacy import build_privacy_guard
    from edge_agent.technician.snapshot import snapshot
    from storelens.cli import load_cli_config

    cfg = load_cli_config(args)
    analytics = _camera_analytics(cfg, args.camera)
    guard = build_privacy_guard(cfg)  # face and person models: a missing one fails before the camera opens
    shot = snapshot(args.url, Path(args.out), guard, analytics, args.timeout)
    print(f"{args.out}: written, {shot.face_count} face(s) blurred, heads of {shot.persons} person(s) blurred")
    return 0


def _camera_analytics(cfg, camera_id: str | None):
    """The analytics section one camera uses (its own, else the edge-wide one)."""
    from storelens.config.edge import for_camera
    from storelens.errors import ConfigError

    if camera_id is None:
        return cfg.edge.analytics
    camera = next((c for c in cfg.edge.cameras if c.id == camera_id), None)
    if camera is None:
        raise ConfigError(f"edge.cameras has no camera with id {camera_id!r}")
    return for_camera(cfg, camera).edge.analytics


def _homography_key(camera_id: str | None) -> str:
    return "edge.analytics.homography" if camera_id is None else f"camera {camera_id}: analytics.homography"


def _calibrate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edge_agent.technician.calibrate import check_inside, fit, judge, parse_pair, read_pairs_file
    from storelens.errors import InputError

    pairs = [parse_pair(text) for text in args.pair]
    if args.points:
        pairs += read_pairs_file(Path(args.points))
    current = _current_analytics(Path(args.config), args.camera)
    floor_size = tuple(args.floor_size) if args.floor_size else _floor_size(current)
    check_inside(pairs, floor_size)
    result = fit(pairs, floor_size)
    verdict = judge(pairs, result, current.heatmap_cell_m if current else 0.5)
    for line in verdict.warnings:
        print(f"storelens: warning: {line}", file=sys.stderr)
    if verdict.refused and not args.force:
        raise InputError(f"{verdict.refused}; config not changed (--force writes it anyway)")
    if not args.dry_run:
        from edge_agent.technician.calibrate import write_into_config

        write_into_config(Path(args.config), result.homography, args.camera)
    _emit(args, _calibration_json(args, pairs, result, verdict), _calibration_text(args, pairs, result))
    return 0


def _current_analytics(path, camera_id: str | None):
    """The analytics section the calibration goes into, as the config has it now (None: no file yet)."""
    from storelens.config import load_config

    if not path.exists():
        return None
    return _camera_analytics(load_config(path), camera_id)


def _floor_size(analytics) -> tuple[float, float] | None:
    """The floor size already calibrated for this section, so new points are checked against it."""
    homography = analytics.homography if analytics is not None else None
    return (homography.floor_width_m, homography.floor_height_m) if homography else None


def _calibration_json(args, pairs, result, verdict) -> dict:
    return {"pairs": len(pairs), "rms_m": round(result.rms_m, 4),
            "point_errors_m": [round(float(e), 4) for e in result.point_errors_m],
            "rms_without_m": [round(e, 4) for e in verdict.rms_without_m], "suspect_pairs": verdict.suspects,
            "warnings": verdict.warnings, "written": None if args.dry_run else args.config}


def _calibration_text(args, pairs, result) -> list[str]:
    return [
        *[f"pair {i + 1}: {p[0]} px -> {p[1]} m, error {e:.3f} m"
          for i, (p, e) in enumerate(zip(pairs, result.point_errors_m, strict=True))],
        f"reprojection error {result.rms_m:.3f} m RMS over {len(pairs)} pairs",
        "dry run: config not changed" if args.dry_run else f"{args.config}: {_homography_key(args.camera)} written",
    ]


def _discover(args: argparse.Namespace) -> int:
    from edge_agent.technician.wsdiscovery import discover

    devices = discover(args.address, args.port, args.wait, args.interface)
    if args.json:
        print(json.dumps([{"endpoint": d.endpoint, "xaddrs": list(d.xaddrs), "name": d.name,
                           "hardware": d.hardware, "sender": d.sender} for d in devices]))
        return 0
    for d in devices:
        print(f"{d.sender:<15} {d.name or '-':<20} {d.hardware or '-':<16} {' '.join(d.xaddrs)}")
    print(f"{len(devices)} ONVIF device(s) answered")
    return 0


def _imaging(args: argparse.Namespace) -> int:
    from edge_agent.technician.onvif import OnvifCamera

    camera = OnvifCamera(args.device, args.user, _onvif_password(), args.timeout)
    token = args.token or camera.video_source_token()
    onoff = {"on": True, "off": False, None: None}
    camera.set_imaging(token, backlight=onoff[args.backlight], wdr=onoff[args.wdr], level=args.level)
    s = camera.get_imaging(token)
    _emit(args, {"token": token, **s.as_dict()}, [
        f"video source        {token}",
        f"backlight comp.     {s.backlight_mode or 'n/a'} {_num(s.backlight_level) if s.backlight_level is not None else ''}",
        f"wide dynamic range  {s.wdr_mode or 'n/a'} {_num(s.wdr_level) if s.wdr_level is not None else ''}",
    ])
    return 0


def _onvif_password() -> str:
    password = os.environ.get(ONVIF_PASSWORD_ENV)
    if password is not None:
        return password
    if not sys.stdin.isatty():
        from storelens.errors import InputError

        raise InputError(f"ONVIF password: set ${ONVIF_PASSWORD_ENV} (no terminal to prompt on)")
    import getpass

    return getpass.getpass("ONVIF password: ")
