"""`storelens bench ...`: benchmarks that print numbers (speed, memory, recall, age error).

Each benchmark is a subcommand of `bench`; add new ones with another `sub.add_parser(...)`.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks: speed, memory, accuracy")
    sub = parser.add_subparsers(dest="bench_command", required=True, metavar="BENCHMARK")
    faces = _common(sub.add_parser("faces", help="face detection ms/frame, age faces/s, peak memory"))
    faces.add_argument("--repeat", type=int, default=20, help="timed runs per measurement (median reported)")
    faces.set_defaults(func=_faces)
    backlight = _common(
        sub.add_parser("backlight", help="face recall on backlit/dark variants, with and without enhancement")
    )
    backlight.add_argument(
        "--stops", type=float, nargs="+", default=[2, 3, 4, 5, 6], help="under-exposure levels"
    )
    backlight.set_defaults(func=_backlight)
    age = _common(sub.add_parser("age", help="age MAE on the UTKFace sample, per test-time option"))
    age.set_defaults(func=_age)
    dashboard = sub.add_parser(
        "dashboard", help="dashboard page and callback times (p50/p95) over a seeded history"
    )
    dashboard.add_argument("--stores", type=int, default=50, help="synthetic stores to seed (default 50)")
    dashboard.add_argument("--days", type=int, default=90, help="days of history per store (default 90)")
    dashboard.add_argument("--repeat", type=int, default=20, help="timed requests per page or callback")
    dashboard.set_defaults(func=_dashboard)
    from storelens.cli.bench_people import add_parsers  # pipeline, reid, tracking (people analytics)

    add_parsers(sub, _common, _media)
    from storelens.cli.bench_sync import add_parsers as add_sync_parsers  # ingest, publish (sync/cloud)

    add_sync_parsers(sub)


def _common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--media", help="test media directory (default: ../shared/media beside the checkout)")
    return parser


def _media(args: argparse.Namespace):
    from pathlib import Path

    from storelens.errors import InputError
    from storelens.paths import PROJECT_ROOT, shared_dir

    # The default is beside the checkout, never relative to the working directory.
    media = Path(args.media) if args.media else (shared_dir() or PROJECT_ROOT.parent / "shared") / "media"
    if not media.is_dir():
        raise InputError(f"{media}: test media directory not found; pass --media DIR")
    return media


def _faces(args: argparse.Namespace) -> int:
    from devkit.bench.faces import bench_faces
    from storelens.cli import load_cli_config

    for line in bench_faces(load_cli_config(args), _media(args), args.repeat):
        print(line)
    return 0


def _backlight(args: argparse.Namespace) -> int:
    from devkit.bench.backlight import MODES, run_backlight
    from devkit.bench.media import FACE_IMAGES
    from edge_agent.detect.faces import build_face_detector
    from storelens.cli import load_cli_config

    cfg = load_cli_config(args)
    detector = build_face_detector(cfg.edge.faces, cfg.models)
    rows = run_backlight(detector, cfg.edge.enhance, _media(args) / "faces", args.stops)
    print("face recall vs detections on the original images (IoU >= 0.5); modes = edge.enhance.mode")
    print(
        f"{'variant':<9} {'stops':>5} {'faces':>5}  "
        + "  ".join(f"{m:>13}" for m in MODES)
        + "  auto enhanced"
    )
    for r in rows:
        cells = "  ".join(f"{r.found[m]:>3} ({r.recall(m):6.1%})" for m in MODES)
        print(f"{r.variant:<9} {r.stops:>5g} {r.faces:>5}  {cells}  {r.enhanced:>6}/{len(FACE_IMAGES)} images")
    return 0


def _age(args: argparse.Namespace) -> int:
    from devkit.bench.age import MARGINS, mean_absolute_error, measure_ages, measure_ages_degraded
    from devkit.bench.faces import age_variants
    from edge_agent.faces import FacePipeline
    from storelens.cli import load_cli_config

    cfg = load_cli_config(args)
    utk = _media(args) / "utkface"
    print(f"age MAE on {utk} (chips on grey canvases, margins {MARGINS} px; true age from file name)")
    for name, pipeline in age_variants(cfg):
        samples = measure_ages(pipeline, utk)
        mae, missing = mean_absolute_error(samples)
        print(
            f"  {name:<44} MAE {mae:5.2f} years over {len(samples) - missing} estimates ({missing} without age)"
        )
    print("age MAE on backlit/dark versions of the same chips (bench/synth.py), chips cut from:")
    pipeline = FacePipeline.from_config(cfg)
    for variant, stops in [("backlit", s) for s in (2, 3, 4)] + [("dark", s) for s in (2, 3, 4)]:
        maes = {k: mean_absolute_error(v) for k, v in measure_ages_degraded(pipeline, utk, variant, stops).items()}
        cells = "  ".join(f"{k} {mae:5.2f} ({missing} missed)" for k, (mae, missing) in maes.items())
        print(f"  {variant:<8} {stops} stops under: {cells}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from devkit.bench.dashboard import run

    for line in run(args.stores, args.days, args.repeat):
        print(line, flush=True)
    return 0
