"""The `storelens` command. Each `cmd_*.py` module beside this one adds its subcommands.

A module defines `register(subparsers)`, adding a parser whose `func(args) -> int` runs it.
Heavy imports happen inside `func`, so `storelens --help` stays fast. Every command takes
`--config FILE` in the same place, after its own name (`storelens cloud ingest --config x.yaml`);
without it the config is found by `storelens.config.locate_config`. Exit codes: storelens/errors.py.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Iterator, Sequence

from storelens import __version__
from storelens.errors import EXIT_INTERRUPTED, EXIT_USAGE, StorelensError, missing_extra
from storelens.extras import extra_for
from storelens.logsetup import configure_logging

CONFIG_HELP = ("config file (default: $STORELENS_CONFIG, then /etc/storelens/storelens.yaml, then "
               "~/.config/storelens/storelens.yaml, else the built-in defaults; `storelens config show` says which)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storelens", description="In-store visitor analytics.")
    parser.add_argument("--version", action="version", version=f"storelens {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}").register(subparsers)
    for command in _commands(subparsers):
        command.set_defaults(command_name=command.prog)  # names the command in missing-extra errors
        if "--config" not in command._option_string_actions:
            # SUPPRESS: a subcommand must not reset a --config its runnable parent already parsed
            command.add_argument("--config", metavar="FILE", help=CONFIG_HELP, default=argparse.SUPPRESS)
    return parser


def _commands(group: argparse._SubParsersAction) -> Iterator[argparse.ArgumentParser]:
    """Every parser that runs something: leaves, and groups that run when given no subcommand."""
    for child in dict.fromkeys(group.choices.values()):  # aliases map to the same parser
        children = [a for a in child._actions if isinstance(a, argparse._SubParsersAction)]
        if not children or child.get_default("func"):
            yield child
        for sub in children:
            yield from _commands(sub)


def load_cli_config(args: argparse.Namespace):
    """The command's config: --config, else the default search order (see CONFIG_HELP)."""
    from storelens.config import load_config, locate_config

    return load_config(locate_config(getattr(args, "config", None)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    configure_logging(args.verbose)
    try:
        return int(_run(args))
    except StorelensError as exc:
        print(f"storelens: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    """The command; a missing third-party module becomes the one line naming the extra to install."""
    command = getattr(args, "command_name", "storelens")
    try:
        return args.func(args) or 0
    except ModuleNotFoundError as exc:
        extra = extra_for(exc, command)
        if extra is None:
            raise
        raise missing_extra(extra, command, exc) from exc


if __name__ == "__main__":
    sys.exit(main())
