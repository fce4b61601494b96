"""`storelens config validate FILE` and `storelens config show [--config FILE]`."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="validate or show configuration")
    sub = parser.add_subparsers(dest="config_command", required=True)
    validate = sub.add_parser("validate", help="check a config file; prints key path, value and reason per error")
    validate.add_argument("file")
    validate.set_defaults(func=_validate)
    show = sub.add_parser("show", help="print which config file is used and the effective config (defaults filled in)")
    show.set_defaults(func=_show)


def _validate(args: argparse.Namespace) -> int:
    from storelens.config import load_config
    from storelens.errors import EXIT_CONFIG, ConfigError

    try:
        load_config(args.file)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    print(f"{args.file}: ok")
    return 0


def _show(args: argparse.Namespace) -> int:
    import yaml

    from storelens.config import config_search_order, load_config, locate_config

    path = locate_config(getattr(args, "config", None))
    print(f"# config: {path if path else 'built-in defaults (no config file found)'}")
    print("# search order without --config: " + ", then ".join(
        f"{origin} ({where or 'unset'})" for origin, where in config_search_order()))
    cfg = load_config(path)
    print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
    return 0
