"""`storelens faces IMAGE... [--json]`: faces with landmarks, quality, age (with its interval) and band."""

from __future__ import annotations

import argparse
import json
import math
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("faces", help="detect faces and estimate age in images")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, ...)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image (JSON lines)")
    parser.set_defaults(func=_run)


def _num(value: float, digits: int) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else round(float(value), digits)


def face_records(faces) -> list[dict]:
    """JSON-ready rows: box and landmarks in original image pixels; age null when the gate refused it.
    age_low..age_high is the interval meant to hold the true age with probability edge.age.interval_level."""
    rows = []
    for i in range(len(faces)):
        landmarks = (
            None if faces.landmarks is None else [[_num(x, 1), _num(y, 1)] for x, y in faces.landmarks[i]]
        )
        rows.append(
            {
                "box": [_num(v, 1) for v in faces.xyxy[i]],
                "score": _num(faces.confidence[i], 3),
                "landmarks": landmarks,
                "quality": _num(faces.data["quality"][i], 3),
                "age": _num(faces.data["age"][i], 1),
                "age_confidence": _num(faces.data["age_confidence"][i], 3),
                "age_low": _num(faces.data["age_low"][i], 1),
                "age_high": _num(faces.data["age_high"][i], 1),
                "band": faces.data["band"][i] or None,
            }
        )
    return rows


def _print_table(path: str, rows: list[dict]) -> None:
    print(f"{path}: {len(rows)} face(s)")
    for row in rows:
        x1, y1, x2, y2 = row["box"]
        age = "-" if row["age"] is None else f"{row['age']:.1f}"
        conf = "-" if row["age_confidence"] is None else f"{row['age_confidence']:.2f}"
        interval = "-" if row["age_low"] is None else f"{row['age_low']:.0f}-{row['age_high']:.0f}"
        print(
            f"  box [{x1:7.1f} {y1:7.1f} {x2:7.1f} {y2:7.1f}]  score {row['score']:.2f}  "
            f"quality {row['quality']:.2f}  age {age:>5} ({interval:>5})  conf {conf:>4}  band {row['band'] or '-'}"
        )


def _run(args: argparse.Namespace) -> int:
    from edge_agent.faces import FacePipeline, read_image
    from storelens.cli import load_cli_config
    from storelens.errors import InputError

    pipeline = FacePipeline.from_config(load_cli_config(args))
    failed = 0
    for path in args.images:
        try:
            image = read_image(path)
        except InputError as exc:
            print(f"storelens: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        rows = face_records(pipeline(image))
        if args.json:
            print(json.dumps({"file": path, "faces": rows}), flush=True)
        else:
            _print_table(path, rows)
    return 1 if failed else 0
