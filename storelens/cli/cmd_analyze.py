"""`storelens analyze [VIDEO] [--config FILE] --json OUT`: the full edge pipeline on a video file."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze", help="run the whole edge pipeline on a video file and summarise it",
        description="Default VIDEO: the PETS 2009 sample (fetched and sha256-checked), with its scene config.",
    )
    parser.add_argument("video", nargs="?", help="video file (default: the sample video)")
    parser.add_argument("--config", help="config file (default: the sample's scene config for the sample)")
    parser.add_argument("--json", dest="json_out", help="write windows + summary + timings here")
    parser.add_argument("--camera", default="cam1", help="camera id written into the windows (default cam1)")
    parser.add_argument("--start", help="wall-clock time of the first frame, ISO-8601 with offset")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")
    parser.add_argument("--from", dest="mirror", help="mirror directory or URL for the sample video")
    parser.set_defaults(func=_run)


def _inputs(args: argparse.Namespace):
    from edge_agent.samples import fetch_sample, get_sample, sample_config_path
    from storelens.config import load_config, locate_config
    from storelens.config.sources import CameraConfig
    from storelens.errors import ConfigError

    config_path = args.config
    video = args.video
    if video is None:
        sample = get_sample()
        video = str(fetch_sample(sample, args.mirror))
        config_path = config_path or sample_config_path(sample)
    cfg = load_config(locate_config(config_path))
    try:
        camera = CameraConfig(id=args.camera, url=video, start_time=args.start)
    except ValueError as exc:
        raise ConfigError(f"--camera/--start: {exc.errors()[0]['msg']}") from None
    return cfg, camera


def _run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from edge_agent.analyze import analyze_video, summarize

    cfg, camera = _inputs(args)
    with _progress(camera, args.max_frames) as progress:
        result = analyze_video(cfg, camera, args.max_frames or None, on_frame=progress)
    summary = summarize(result, cfg.edge.age.bands)
    if args.json_out:
        out = {"summary": summary, "windows": [json.loads(w.model_dump_json()) for w in result.windows]}
        Path(args.json_out).write_text(json.dumps(out, indent=1))
    _print(summary, camera.url, args.json_out)
    _print_windows(result.windows)
    if result.error:
        raise result.error  # after the windows are written: nothing processed is lost
    return 0


def _progress(camera, max_frames: int):
    """A bar (terminal) or a log line every 10 s over the video's frames."""
    from edge_agent.sources.video import FileSource
    from storelens.progress import Progress

    source = FileSource(camera)  # opens and closes: the frame count, and a bad file fails here, fast
    total = source.frame_count
    source.close()
    return Progress(f"analyze {source.path.name}", min(total, max_frames) if max_frames and total else total)


# Each line shows the count fields it names; a count field of the wire model that no line names is
# printed on an extra `counts` line, so a new count is never silently missing from this report.
_COUNT_LINES = (
    ("frames", ("frames",), "{frames} in {seconds} s ({fps} fps)"),
    ("entries / exits", ("entries", "exits", "occupancy_max"), "{entries} / {exits}   (occupancy max in view {occupancy_max})"),
    ("unique visitors", ("unique_visitors", "visitors_with_age"), "{unique_visitors} ({visitors_with_age} with an age)"),
    ("groups", ("group_visits", "family_visits"), "{group_visits} ({family_visits} families)"),
    ("faces", ("faces_seen", "faces_low_quality"), "{faces_seen} seen, {faces_low_quality} too poor for an age"),
)


def _count_lines(s: dict) -> list[str]:
    from storelens.wire import COUNT_FIELDS

    lines = [f"{label:<17}{text.format(**s)}" for label, _, text in _COUNT_LINES]
    shown = {name for _, names, _ in _COUNT_LINES for name in names}
    rest = [f"{name} {s[name]}" for name in COUNT_FIELDS if name not in shown]
    return lines + ([f"{'counts':<17}{', '.join(rest)}"] if rest else [])


def _print(s: dict, video: str, json_out: str | None) -> None:
    print(f"video            {video}")
    for line in _count_lines(s):
        print(line)
    bands = ", ".join(f"{k}: {v}" for k, v in s["age_bands"].items() if v) or "none"
    print(f"ages             {bands}")
    cells = s["heatmap"]["cells"]
    top = sorted(cells, key=lambda c: -c[2])[:3]
    print(f"heatmap          {sum(c[2] for c in cells)} samples in {len(cells)} cells of "
          f"{s['heatmap']['cell_m']} m; busiest {', '.join(f'({c},{r})={n}' for c, r, n in top) or '-'}")
    if s["floor_reprojection_error_m"] is not None:
        print(f"floor calibration reprojection error {s['floor_reprojection_error_m']:.3f} m")
    print("stage ms/frame   " + ", ".join(f"{k} {v}" for k, v in s["stage_ms_per_frame"].items()))
    if json_out:
        print(f"wrote            {json_out}")


def _print_windows(windows: list, most: int = 24) -> None:
    """Entries and unique visitors per window, as the dashboard's day fills up (when there are several)."""
    if len(windows) < 2:
        return
    print("per window       start  entries  visitors (decided then)  visits closed")
    for w in windows[:most]:
        print(f"                 {w.window_start:%H:%M}  {w.entries:7d}  {w.unique_visitors:8d}"
              f"                 {sum(w.dwell_seconds_histogram.counts):13d}")
    if len(windows) > most:
        print(f"                 ... {len(windows) - most} more in the JSON")
