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
    result = analyze_video(cfg, camera, args.max_frames or None)
    summary = summarize(result, cfg.edge.age.bands)
    if args.json_out:
        out = {"summary": summary, "windows": [json.loads(w.model_dump_json()) for w in result.windows]}
        Path(args.json_out).write_text(json.dumps(out, indent=1))
    _print(summary, camera.url, args.json_out)
    if result.error:
        raise result.error  # after the windows are written: nothing processed is lost
    return 0


def _print(s: dict, video: str, json_out: str | None) -> None:
    print(f"video            {video}")
    print(f"frames           {s['frames']} in {s['seconds']} s ({s['fps']} fps)")
    print(f"entries / exits  {s['entries']} / {s['exits']}   (occupancy max in view {s['occupancy_max']})")
    print(f"unique visitors  {s['unique_visitors']} ({s['visitors_with_age']} with an age)")
    print(f"groups           {s['group_visits']} ({s['family_visits']} families)")
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
