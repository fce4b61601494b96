"""`storelens dashboard` (serve), `storelens dashboard user add`, `storelens dashboard seed`."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dashboard", help="web dashboard: serve it, add users, seed demo history")
    parser.add_argument("--db", help="database URL (overrides cloud.database_url)")
    parser.add_argument("--host", help="listen address (overrides dashboard.host)")
    parser.add_argument("--port", type=int, help="listen port (overrides dashboard.port)")
    parser.set_defaults(func=_serve)
    sub = parser.add_subparsers(dest="dashboard_command", metavar="ACTION")
    user = sub.add_parser("user", help="dashboard users").add_subparsers(dest="user_command", required=True)
    add = user.add_parser("add", help="create or replace a user (password read from stdin or a prompt)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=("manager", "analyst", "technician"))
    add.add_argument("--stores", default="", help="comma-separated store ids (required for managers)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first stdin line")
    add.set_defaults(func=_user_add)
    seed = sub.add_parser("seed", help="replace the synthetic (seeded=True) history")
    seed.add_argument("--stores", type=int, default=50, help="number of synthetic stores (default 50)")
    seed.add_argument("--days", type=int, default=90, help="days of history ending yesterday (default 90)")
    seed.set_defaults(func=_seed)


def _engine(args: argparse.Namespace):
    from cloud_sync.db.engine import database_engine, init_db, make_engine
    from storelens.cli import load_cli_config

    cfg = load_cli_config(args)
    engine = make_engine(args.db) if args.db else database_engine(cfg)
    init_db(engine)
    return cfg, engine


def _serve(args: argparse.Namespace) -> int:
    from dashboard.app import create_app
    from dashboard.server import DashboardServer

    cfg, engine = _engine(args)
    app = create_app(engine, cfg.dashboard, development=cfg.mode == "development")
    server = DashboardServer(app, args.host or cfg.dashboard.host, args.port or cfg.dashboard.port)
    print(f"dashboard: {server.url}  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _read_password(from_stdin: bool) -> str:
    from storelens.errors import InputError

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise InputError("no terminal to prompt for the password; pass --password-stdin and pipe it in")
    import getpass

    first, second = getpass.getpass("password: "), getpass.getpass("again: ")
    if first != second:
        raise InputError("the two passwords differ")
    return first


def _user_add(args: argparse.Namespace) -> int:
    from dashboard.auth import add_user

    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    password = _read_password(args.password_stdin)
    _cfg, engine = _engine(args)
    add_user(engine, username=args.username, password=password, role=args.role, store_ids=stores)
    print(f"user {args.username} saved: role {args.role}, stores {', '.join(stores) or 'all'}")
    return 0


def _seed(args: argparse.Namespace) -> int:
    from devkit.demo.seed import seed_history

    _cfg, engine = _engine(args)
    summary = seed_history(engine, stores=args.stores, days=args.days)
    print(f"seeded {summary.stores} stores, {summary.windows} windows, {summary.first_day}..{summary.last_day}")
    return 0
