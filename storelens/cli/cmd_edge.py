"""`storelens edge run`: the long-lived edge service (cameras -> pipeline -> buffer)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("edge", help="the edge service on the in-store box")
    sub = parser.add_subparsers(dest="edge_command", required=True)
    run = sub.add_parser("run", help="watch the configured cameras and buffer AggregateWindows (until SIGTERM)")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from edge_agent.app import run_edge
    from storelens.cli import load_cli_config
    from storelens.ops import ServiceOps
    from storelens.signals import stop_on_signals

    cfg = load_cli_config(args)
    with ServiceOps("edge", cfg.ops.host, cfg.ops.edge_port) as ops:
        ops.status("waiting for a sane clock and loading models")
        runs = run_edge(cfg, stop_on_signals(), ops)
    return 1 if runs and all(r.error for r in runs) else 0
