"""`storelens dashboard` (serve), `dashboard user add`, `dashboard token create|list|revoke`, `dashboard seed`."""

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
    _register_tokens(sub)
    seed = sub.add_parser("seed", help="replace the synthetic (seeded=True) history")
    seed.add_argument("--stores", type=int, default=50, help="number of synthetic stores (default 50)")
    seed.add_argument("--days", type=int, default=90, help="days of history ending yesterday (default 90)")
    seed.add_argument("--no-pos", action="store_true", help="no synthetic POS sales (conversion stays empty)")
    seed.set_defaults(func=_seed)


def _register_tokens(sub) -> None:
    token = sub.add_parser("token", help="API tokens (/api/v1)").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="a new API token for a user, printed once (store it safely)")
    create.add_argument("username")
    create.add_argument("--name", default="", help="what the token is for, e.g. 'BI nightly export'")
    create.add_argument("--days", type=float, help="expire after this many days (default: never)")
    create.set_defaults(func=_token_create)
    lst = token.add_parser("list", help="tokens with their id, prefix, user and state (never the token)")
    lst.add_argument("--user", help="only this user's tokens")
    lst.set_defaults(func=_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by id or prefix (takes effect at once)")
    revoke.add_argument("token", metavar="ID_OR_PREFIX")
    revoke.set_defaults(func=_token_revoke)


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
    cfg, engine = _engine(args)
    add_user(engine, username=args.username, password=password, role=args.role, store_ids=stores,
             production=cfg.mode == "production")
    print(f"user {args.username} saved: role {args.role}, stores {', '.join(stores) or 'all'}")
    return 0


def _seed(args: argparse.Namespace) -> int:
    from devkit.demo.seed import seed_history
    from devkit.demo.seed_pos import seed_pos

    _cfg, engine = _engine(args)
    summary = seed_history(engine, stores=args.stores, days=args.days)
    print(f"seeded {summary.stores} stores, {summary.windows} windows, {summary.first_day}..{summary.last_day}")
    if not args.no_pos:
        print(f"seeded POS sales: {seed_pos(engine)} store-hours")
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from dashboard.api.tokens import create

    _cfg, engine = _engine(args)
    new = create(engine, args.username, name=args.name, days=args.days)
    until = f", expires {new.expires_at:%Y-%m-%d %H:%M} UTC" if new.expires_at else ""
    print(f"token {new.id} for {new.username}{until}:")
    print(new.token)
    print("(shown once; send it as 'Authorization: Bearer <token>' to /api/v1)")
    return 0


def _token_list(args: argparse.Namespace) -> int:
    from dashboard.api.tokens import list_tokens
    from storelens.errors import EXIT_OK

    _cfg, engine = _engine(args)
    print(f"{'id':>4}  {'prefix':<12} {'user':<16} {'state':<8} {'created':<16} {'last used':<16} name")
    for t in list_tokens(engine, args.user):
        state = "revoked" if t.revoked_at else ("expired" if _expired(t) else "active")
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        print(f"{t.id:>4}  {t.prefix + '...':<12} {t.username:<16} {state:<8} {t.created_at:%Y-%m-%d %H:%M}  "
              f"{used:<16} {t.name}")
    return EXIT_OK


def _expired(token) -> bool:
    from cloud_sync.db.models import utcnow

    return token.expires_at is not None and token.expires_at <= utcnow()


def _token_revoke(args: argparse.Namespace) -> int:
    from dashboard.api.tokens import revoke

    _cfg, engine = _engine(args)
    token = revoke(engine, args.token)
    print(f"token {token.id} ({token.prefix}...) of {token.username} revoked")
    return 0
