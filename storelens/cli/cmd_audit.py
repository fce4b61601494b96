"""`storelens audit VIDEO --gt GT.txt [--config FILE] [--json OUT]`: counting accuracy on an install.

The technician records a clip at the entrance, annotates it (MOTChallenge ground truth) or counts
by hand (`--expect-in N --expect-out M`), and reads per line what the box counted against it.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "audit", help="entrance counts, unique visitors and tracking against ground truth or a hand count",
        description="Runs the full edge pipeline on VIDEO with the configured entrance lines and compares "
        "per line: expected vs counted entries and exits and count accuracy (1 - (|in error| + |out error|) "
        "/ expected crossings); unique visitors against the ground-truth identities; ID switches and IDF1 "
        "(py-motmetrics). With --gt the lines are applied to the ground-truth trajectories by the product's "
        "own line counter.",
    )
    parser.add_argument("video", help="video file recorded at the camera")
    ref = parser.add_mutually_exclusive_group(required=True)
    ref.add_argument("--gt", help="MOTChallenge ground truth (frame,id,x,y,w,h,conf,class,visibility; frames from 1)")
    ref.add_argument("--expect-in", type=_count, help="hand count of entries (with --expect-out)")
    parser.add_argument("--expect-out", type=_count, help="hand count of exits (with --expect-in)")
    parser.add_argument("--expect-visitors", type=_count, help="hand count of distinct people (optional)")
    parser.add_argument("--config", help="config with the camera's entrance lines (edge.analytics or the camera's own)")
    parser.add_argument("--camera", default="cam1",
                        help="camera id; a camera of that id in the config lends its lines (default cam1)")
    parser.add_argument("--json", dest="json_out", help="write the whole audit here as JSON")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = all)")
    parser.add_argument("--min-accuracy", type=float,
                        help="exit 1 when the all-lines count accuracy is below this (for scripted sign-off)")
    parser.set_defaults(func=_run)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be a whole number >= 0")
    return value


def _reference(args: argparse.Namespace):
    from edge_agent.audit.audit import HandCount
    from edge_agent.audit.groundtruth import load_ground_truth
    from storelens.errors import InputError

    if args.gt:
        if args.expect_out is not None or args.expect_visitors is not None:
            raise InputError("--expect-out/--expect-visitors go with --expect-in, not with --gt")
        return load_ground_truth(args.gt)
    if args.expect_out is None:
        raise InputError("--expect-in needs --expect-out (the hand count of exits)")
    return HandCount(args.expect_in, args.expect_out, args.expect_visitors)


def _camera(cfg, args: argparse.Namespace):
    """The configured camera of that id with the video as its source, else a plain camera for the file."""
    from pathlib import Path

    from storelens.config.sources import CameraConfig
    from storelens.errors import InputError

    if not Path(args.video).is_file():
        raise InputError(f"video {args.video}: no such file")
    for cam in cfg.edge.cameras:
        if cam.id == args.camera:
            return cam.model_copy(update={"url": args.video, "realtime": False, "loop": False, "max_fps": 0})
    return CameraConfig(id=args.camera, url=args.video)


def _run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from edge_agent.audit.audit import audit
    from storelens.cli import load_cli_config
    from storelens.cli.cmd_analyze import _progress

    reference = _reference(args)  # a bad ground-truth file fails before minutes of video
    cfg = load_cli_config(args)
    camera = _camera(cfg, args)
    with _progress(camera, args.max_frames) as progress:
        outcome = audit(cfg, camera, reference, args.max_frames or None, progress=progress)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(outcome.report.as_dict(), indent=1))
    for line in outcome.report.text():
        print(line)
    if outcome.error:
        raise outcome.error  # after the report is written: what was processed is kept
    accuracy = outcome.report.total.accuracy
    if args.min_accuracy is not None and accuracy is not None and accuracy < args.min_accuracy:
        print(f"count accuracy {accuracy:.3f} is below --min-accuracy {args.min_accuracy}")
        return 1
    return 0
