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
    backlight = _common(sub.add_parser(
        "backlight", help="face recall, false faces and ms/frame on backlit/flare/dark variants, per enhance mode"
    ))
    backlight.add_argument("--set", dest="sets", nargs="+", choices=["tune", "heldout"], default=["tune", "heldout"],
                           help="image sets (devkit/bench/backlight_sets.py): tune = what enhancement was tuned "
                           "on, heldout = other photos, scales and seeds (default both)")
    backlight.add_argument("--variants", nargs="+", default=None, metavar="VARIANT",
                           help="original, backlit-STOPS, flare, dark-STOPS "
                           "(default original backlit-3 backlit-4 backlit-5 flare dark-3 dark-5)")
    backlight.add_argument("--modes", nargs="+", choices=["off", "auto", "always"], default=["off", "auto"],
                           help="edge.enhance.mode values to compare (default off auto)")
    backlight.set_defaults(func=_backlight)
    age = _common(sub.add_parser(
        "age", help="age error per decade, balanced and 18-75, ms per face, interval coverage; models side by side"
    ))
    age.add_argument("--set", dest="set_dir", help="age-labelled faces, true age first in each file name "
                     "(AGE_*.jpg, UTKFace style; default: utk_decades in the test media)")
    age.add_argument("--models", nargs="+", default=["faceapi_age", "age_v1"], choices=["faceapi_age", "age_v1"],
                     help="age models to compare (default both; one without its files or extra is skipped)")
    age.add_argument("--per-decade", type=int, help="use this many faces per decade, spread through it")
    age.add_argument("--crops", action="store_true", help="also faceapi_age crop variants (edge.age.crop)")
    age.add_argument("--visitors", type=int, default=0, metavar="VIEWS",
                     help="simulate visitors: each face seen VIEWS times with jitter, then the per-visitor vote")
    age.add_argument("--backlit", action="store_true",
                     help="also age on backlit/dark versions of the 8-chip UTKFace sample, raw vs enhanced frame")
    age.add_argument("--repeat", type=int, default=10, help="timed runs for ms per face (median)")
    age.add_argument("--cv", type=int, default=0, metavar="K",
                     help="faceapi_age calibration cross-validated: K folds stratified by decade, map and intervals "
                     "refitted per fold; on the chips and on camera-like renderings of them")
    age.add_argument("--cv-seeds", type=int, default=5, metavar="N", help="repeat --cv with N shuffles (default 5)")
    age.add_argument("--camera-views", type=int, default=2, metavar="R",
                     help="camera-like renderings per face for --cv and --fit-calibration (default 2)")
    age.add_argument("--fit-calibration", metavar="FILE",
                     help="fit faceapi_age's calibration table on the set and write it to FILE (JSON)")
    age.add_argument("--calibration-name", default="cal1", help="name stored in the --fit-calibration table")
    age.set_defaults(func=_age)
    dashboard = sub.add_parser(
        "dashboard", help="dashboard page and callback times (p50/p95) over a seeded history"
    )
    dashboard.add_argument("--stores", type=int, default=50, help="synthetic stores to seed (default 50)")
    dashboard.add_argument("--days", type=int, default=90, help="days of history per store (default 90)")
    dashboard.add_argument("--repeat", type=int, default=20, help="timed requests per page or callback")
    dashboard.set_defaults(func=_dashboard)
    providers = sub.add_parser("providers", help="ms per inference of each model on each runtime (one thread)")
    providers.add_argument("--models", default=",".join(_PROVIDER_MODELS),
                           help=f"comma-separated manifest names (default {','.join(_PROVIDER_MODELS)})")
    providers.add_argument("--repeat", type=int, default=50, help="timed runs per model and runtime (median reported)")
    providers.set_defaults(func=_providers)
    from storelens.cli.bench_people import add_parsers  # pipeline, reid, tracking (people analytics)

    add_parsers(sub, _common, _media)
    from storelens.cli.bench_sync import add_parsers as add_sync_parsers  # ingest, publish (sync/cloud)

    add_sync_parsers(sub)


_PROVIDER_MODELS = ("yunet", "yolox_nano", "reid_0287", "faceapi_age", "age_v1")


def _providers(args: argparse.Namespace) -> int:
    from devkit.bench.providers import bench_providers
    from storelens.cli import load_cli_config
    from storelens.progress import Progress

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    cfg = load_cli_config(args).models
    print(f"{'model':<14} {'runtime':<17} {'median ms':>9} {'p90 ms':>8} {'speed-up':>8} {'rel. diff':>10}  (one thread, "
          f"{args.repeat} interleaved runs; speed-up and diff against onnxruntime cpu)")
    with Progress("bench providers", len(models), unit="model") as progress:
        last = None
        for t in bench_providers(cfg, models, args.repeat):
            if last is not None and t.model != last:
                progress.update()
            last = t.model
            diff = "reference" if t.max_rel_diff is None and t.runtime == "onnxruntime cpu" else (
                "" if t.max_rel_diff is None else f"{t.max_rel_diff:.1e}")
            progress.write(f"{t.model:<14} {t.runtime:<17} {t.median_ms:9.2f} {t.p90_ms:8.2f} {t.speedup:7.2f}x "
                           f"{diff:>10}  {t.note}")
    return 0


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
    from devkit.bench.backlight import DEFAULT_VARIANTS, report, run_backlight
    from devkit.bench.backlight_sets import backlight_set
    from storelens.cli import load_cli_config

    cfg = load_cli_config(args)
    media = _media(args)
    images = ((name, image) for name in args.sets for image in backlight_set(media, name))
    rows = run_backlight(cfg, images, args.variants or DEFAULT_VARIANTS, args.modes)
    for line in report(rows, args.modes):
        print(line)
    return 0


def _age(args: argparse.Namespace) -> int:
    from pathlib import Path

    from devkit.bench.age_report import AgeBenchOptions, bench_age
    from storelens.cli import load_cli_config
    from storelens.errors import InputError

    cfg = load_cli_config(args)
    set_dir = Path(args.set_dir) if args.set_dir else _media(args) / "utk_decades"
    if not set_dir.is_dir() or not any(set_dir.glob("*.jpg")):
        raise InputError(f"{set_dir}: no age-labelled faces (AGE_*.jpg) found; pass --set DIR")
    if args.cv == 1 or args.cv < 0 or args.cv_seeds < 1 or args.camera_views < 0:
        raise InputError("--cv needs 2 or more folds (0: off), --cv-seeds 1 or more, --camera-views 0 or more")
    fit = Path(args.fit_calibration) if args.fit_calibration else None
    if fit is not None and not fit.parent.is_dir():
        raise InputError(f"--fit-calibration {fit}: folder {fit.parent} does not exist")
    opts = AgeBenchOptions(set_dir, args.models, args.per_decade, args.crops, args.visitors, args.repeat,
                           args.cv, args.cv_seeds, args.camera_views, fit, args.calibration_name)
    for line in bench_age(cfg, opts):
        print(line, flush=True)
    if args.backlit:
        _age_backlit(cfg, _media(args) / "utkface")
    return 0


def _age_backlit(cfg, utk) -> None:
    from devkit.bench.age import mean_absolute_error, measure_ages_degraded
    from edge_agent.faces import FacePipeline

    print(f"age MAE on backlit/dark versions of the chips in {utk} (bench/synth.py), chips cut from:")
    pipeline = FacePipeline.from_config(cfg)
    for variant, stops in [("backlit", s) for s in (2, 3, 4)] + [("dark", s) for s in (2, 3, 4)]:
        maes = {k: mean_absolute_error(v) for k, v in measure_ages_degraded(pipeline, utk, variant, stops).items()}
        cells = "  ".join(f"{k} {mae:5.2f} ({missing} missed)" for k, (mae, missing) in maes.items())
        print(f"  {variant:<8} {stops} stops under: {cells}")


def _dashboard(args: argparse.Namespace) -> int:
    from devkit.bench.dashboard import run

    for line in run(args.stores, args.days, args.repeat):
        print(line, flush=True)
    return 0
