"""`storelens models pull|list|verify`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="fetch, verify and list models")
    sub = parser.add_subparsers(dest="models_command", required=True)
    pull = sub.add_parser(
        "pull", help="install models, verified by sha256; build those made from upstream files (faceapi_age)"
    )
    pull.add_argument("--dir", help="model directory (overrides models.dir of the config)")
    pull.add_argument("--from", dest="source", help="local mirror directory or base URL (default: upstream URLs)")
    pull.add_argument("--only", action="append", help="model name (repeatable); default: all models")
    pull.set_defaults(func=_pull)
    lst = sub.add_parser("list", help="list known models with licence and state")
    lst.add_argument("--dir", help="model directory (overrides models.dir of the config)")
    lst.set_defaults(func=_list)


def _model_dir(args: argparse.Namespace):
    from pathlib import Path

    from storelens.cli import load_cli_config

    return Path(args.dir) if args.dir else load_cli_config(args).models.dir


def _pull(args: argparse.Namespace) -> int:
    from edge_agent.models import get_spec, load_manifest, pull_model
    from storelens.errors import ModelError
    from storelens.progress import Progress

    model_dir = _model_dir(args)
    names = args.only or list(load_manifest())
    failures = 0
    with Progress("models pull", len(names), unit="model") as progress:
        for name in names:
            spec = get_spec(name)
            try:
                state = pull_model(spec, model_dir, args.source)
            except ModelError as exc:
                progress.write(f"FAILED    {name}: {exc}")
                failures += 1
                continue
            finally:
                progress.update()
            progress.write(f"{state:<9} {name:<20} {spec.file}")
    print(f"model directory: {model_dir}")
    return 1 if failures else 0


def _list(args: argparse.Namespace) -> int:
    from edge_agent.models import load_manifest, model_state

    model_dir = _model_dir(args)
    print(f"{'name':<20} {'task':<17} {'state':<9} {'default':<7} {'commercial':<10} licence")
    for spec in load_manifest().values():
        state = model_state(spec, model_dir)  # built models: checked against their build receipt
        print(f"{spec.name:<20} {spec.task:<17} {state:<9} {'yes' if spec.default else '':<7} "
              f"{'yes' if spec.commercial else 'NO':<10} {spec.license}")
    print(f"model directory: {model_dir}")
    print("states: ok = present and matching its sha256; missing / corrupt: run `storelens models pull "
          "--only NAME`; no-extra: pip install the extra named by `storelens models pull --only NAME`")
    return 0
