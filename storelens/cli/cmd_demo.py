"""`storelens demo`: the whole product on one machine (the README's first command)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run everything on loopback: edge, sync, broker, ingest, dashboard")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: Ctrl-C)")
    parser.add_argument("--no-edge", action="store_true", help="skip the video analysis (the heavy part)")
    parser.add_argument("--seed-stores", type=int, default=50, help="synthetic stores to seed (0: none; default 50)")
    parser.add_argument("--seed-days", type=int, default=90, help="days of synthetic history (default 90)")
    parser.add_argument("--host", default="127.0.0.1", help="dashboard address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050, help="dashboard port (0: any free port; default 8050)")
    parser.add_argument("--window-minutes", type=int, default=1, help="aggregate window length (default 1)")
    parser.add_argument("--edge-fps", type=float, default=5.0, help="frames analysed per second per store (default 5)")
    parser.add_argument("--status-every", type=float, default=15.0, metavar="SECONDS", help="status line interval")
    parser.add_argument("--dir", help="keep the demo's files here (default: a temp dir removed at exit)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from devkit.demo.runner import Demo, DemoOptions
    from storelens.signals import stop_on_signals

    options = DemoOptions(duration_s=args.duration, edge=not args.no_edge, seed_stores=args.seed_stores,
                          seed_days=args.seed_days, host=args.host, port=args.port,
                          window_minutes=args.window_minutes, edge_fps=args.edge_fps,
                          status_every_s=args.status_every,
                          workdir=Path(args.dir) if args.dir else None)
    state = Demo(options, lambda line: print(line, flush=True)).run(stop_on_signals())
    print("demo stopped" + (f"; failed services: {', '.join(state.failures)}" if state.failures else ""), flush=True)
    return 1 if state.failures else 0
