"""The `storelens` command. Each `cmd_*.py` module beside this one adds its subcommands.

A module defines `register(subparsers)`, adding a parser whose `func(args) -> int` runs it.
Heavy imports happen inside `func`, so `storelens --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from storelens import __version__
from storelens.errors import StorelensError
from storelens.logsetup import configure_logging


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storelens", description="In-store visitor analytics.")
    parser.add_argument("--version", action="version", version=f"storelens {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except StorelensError as exc:
        print(f"storelens: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
