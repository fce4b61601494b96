"""`storelens cloud ...`: ingest, database migrations, store/device/worker registry, broker config."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cloud", help="cloud side: ingest, database, registry, broker")
    sub = parser.add_subparsers(dest="cloud_command", required=True)
    ingest = sub.add_parser("ingest", help="store windows from the broker (until SIGTERM)")
    ingest.add_argument("--worker", help="worker name, unique per ingest process (default: hostname)")
    ingest.add_argument("--retire", action="store_true",
                        help="scale down: store this worker's queued messages, then end its broker session")
    ingest.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="port of this worker's /metrics and /healthz (default: ops.ingest_port; 0 = none)")
    ingest.set_defaults(func=_ingest)
    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate the schema to the newest revision").set_defaults(func=_db_upgrade)
    store = sub.add_parser("store", help="stores").add_subparsers(dest="store_command", required=True)
    add_store = store.add_parser("add", help="register a store")
    add_store.add_argument("store_id")
    add_store.add_argument("--name", default="")
    add_store.add_argument("--timezone", default="UTC")
    add_store.add_argument("--exist-ok", action="store_true",
                           help="an existing store is not an error: its name/time zone are updated (idempotent)")
    add_store.set_defaults(func=_store_add)
    _register_device(sub)
    broker = sub.add_parser("broker", help="Mosquitto").add_subparsers(dest="broker_command", required=True)
    conf = broker.add_parser("config", help="write mosquitto.conf, password file, ACL (and dev TLS if missing)")
    conf.add_argument("--host", action="append", help="broker host name/IP for a generated certificate")
    conf.add_argument("--logins-stdin", action="store_true",
                      help='take the accounts from standard input instead of the registry database: JSON '
                           '{"devices": [{"store_id", "device_id", "password"}], "ingest": [{"username", "password"}]} '
                           "(the Ansible broker role); prints 'unchanged' when no file changed")
    conf.add_argument("--no-reload", action="store_true",
                      help="do not touch a running broker (its service is restarted by the caller)")
    conf.set_defaults(func=_broker_config)
    _register_worker(sub)
    from storelens.cli.cloud_deadletters import add_parsers as add_deadletter_parsers

    add_deadletter_parsers(sub)
    _register_pos(sub)
    _register_alerts(sub)


def _register_pos(sub) -> None:
    pos = sub.add_parser("pos", help="point-of-sale data (conversion)").add_subparsers(dest="pos_command",
                                                                                         required=True)
    imp = pos.add_parser("import", help="import transactions per store and hour from a CSV (all or nothing)",
                         description="CSV columns: store_id,hour_start,transactions[,revenue,currency]; hour_start "
                         "ISO-8601 with offset or store-local time. A bad row refuses the whole file; importing "
                         "an hour again replaces it.")
    imp.add_argument("file", help="CSV file, or - for standard input")
    imp.add_argument("--dry-run", action="store_true", help="check the file, import nothing")
    imp.set_defaults(func=_pos_import)


def _register_alerts(sub) -> None:
    alerts = sub.add_parser("alerts", help="alerts: device offline, sync overdue, camera problems, dead letters"
                            ).add_subparsers(dest="alerts_command", required=True)
    run = alerts.add_parser("run", help="evaluate the database periodically and notify (until SIGTERM)")
    run.add_argument("--once", action="store_true", help="one evaluation, then exit (cron, tests)")
    run.set_defaults(func=_alerts_run)
    alerts.add_parser("status", help="the alert conditions as last evaluated").set_defaults(func=_alerts_status)
    alerts.add_parser("test", help="send a test message to every configured destination").set_defaults(
        func=_alerts_test)


def _register_worker(sub) -> None:
    worker = sub.add_parser("worker", help="ingest worker broker accounts (one per `cloud ingest --worker NAME`)")
    acts = worker.add_subparsers(dest="worker_command", required=True)
    add = acts.add_parser("add", help="give worker NAME its broker account and print its password (shown once)")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true",
                     help="take the password (one line) from standard input; idempotent like `device add`")
    add.add_argument("--registry-only", action="store_true", help="update only the database, not this host's broker files")
    add.set_defaults(func=_worker_add)
    rotate = acts.add_parser("rotate", help="issue a new password (also re-activates a revoked account)")
    rotate.add_argument("name")
    rotate.set_defaults(func=_worker_add, password_stdin=False, registry_only=False)
    revoke = acts.add_parser("revoke", help="revoke a worker's broker account")
    revoke.add_argument("name")
    revoke.set_defaults(func=_worker_revoke)
    acts.add_parser("list", help="list ingest worker accounts").set_defaults(func=_worker_list)


def _register_device(sub) -> None:
    device = sub.add_parser("device", help="devices and credentials").add_subparsers(dest="device_command", required=True)
    add = device.add_parser("add", help="register a device and print its password (shown once)")
    add.add_argument("store_id")
    add.add_argument("device_id")
    add.add_argument("--name", default="")
    add.add_argument("--password-stdin", action="store_true",
                     help="take the password (one line) from standard input, e.g. from Ansible Vault, and print "
                          "nothing of it; idempotent: the same password again is a no-op, another one rotates it")
    add.add_argument("--registry-only", action="store_true",
                     help="update only the database, not this host's broker files (the broker is managed "
                          "elsewhere, e.g. by the Ansible broker role)")
    add.set_defaults(func=_device_add)
    rotate = device.add_parser("rotate", help="issue a new password (also re-activates a revoked device)")
    rotate.add_argument("device_id")
    rotate.set_defaults(func=_device_rotate)
    revoke = device.add_parser("revoke", help="revoke a device: broker and ingest refuse it")
    revoke.add_argument("device_id")
    revoke.set_defaults(func=_device_revoke)
    lst = device.add_parser("list", help="list devices")
    lst.add_argument("--store")
    lst.set_defaults(func=_device_list)


def _config(args):
    from storelens.cli import load_cli_config

    return load_cli_config(args)


def _engine(cfg):
    """The cloud database, migrated to the newest schema revision."""
    from cloud_sync.db.engine import init_db
    from cloud_sync.ingest_service import database_engine

    engine = database_engine(cfg)
    init_db(engine)
    return engine


def _session(cfg):
    from sqlmodel import Session

    return Session(_engine(cfg))


def _ingest(args: argparse.Namespace) -> int:
    from cloud_sync.ingest_service import run_ingest
    from storelens.ops import ServiceOps
    from storelens.signals import stop_on_signals

    cfg = _config(args)
    port = cfg.ops.ingest_port if args.metrics_port is None else args.metrics_port
    with ServiceOps(f"ingest {args.worker or ''}".strip(), cfg.ops.host, port) as ops:
        run_ingest(cfg, stop_on_signals(), worker=args.worker, retire=args.retire, ops=ops)
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    cfg = _config(args)
    _engine(cfg)
    print(f"database at newest schema revision: {cfg.cloud.database_url}")
    return 0


def _store_add(args: argparse.Namespace) -> int:
    from cloud_sync.registry import add_store, ensure_store

    with _session(_config(args)) as session:
        if args.exist_ok:
            _store, outcome = ensure_store(session, store_id=args.store_id, name=args.name, timezone=args.timezone)
        else:
            add_store(session, store_id=args.store_id, name=args.name, timezone=args.timezone)
            outcome = "added"
        session.commit()
    print(f"store {args.store_id} {outcome}")
    return 0


def _device_add(args: argparse.Namespace) -> int:
    from cloud_sync.registry import add_device

    if args.password_stdin:
        return _device_set_password(args, _read_password_stdin(f"device {args.device_id}"))
    cfg = _config(args)
    with _session(cfg) as session:
        _device, password = add_device(session, store_id=args.store_id, device_id=args.device_id, name=args.name)
        session.commit()
        if not args.registry_only:
            _refresh(cfg, session)
    print(f"device {args.device_id} added to store {args.store_id}")
    print(f"mqtt username: {args.device_id}")
    print(f"mqtt password: {password}   (shown once: put it in the box's STORELENS_MQTT_PASSWORD)")
    return 0


def _read_password_stdin(who: str) -> str:
    """One line from standard input, without its line ending; errors never quote what was read."""
    import sys

    from storelens.errors import InputError

    text = sys.stdin.read()
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InputError(f"--password-stdin ({who}): standard input is empty")
    if "\n" in password:
        raise InputError(f"--password-stdin ({who}): expected one line on standard input, got several")
    return password


def _device_set_password(args: argparse.Namespace, password: str) -> int:
    from cloud_sync.registry import set_device_password

    cfg = _config(args)
    with _session(cfg) as session:
        _device, outcome = set_device_password(session, store_id=args.store_id, device_id=args.device_id,
                                               password=password, name=args.name)
        session.commit()
        if outcome != "unchanged" and not args.registry_only:
            _refresh(cfg, session)
    print(f"device {args.device_id} of store {args.store_id}: {outcome}")
    return 0


def _device_rotate(args: argparse.Namespace) -> int:
    from cloud_sync.registry import issue_credentials

    cfg = _config(args)
    with _session(cfg) as session:
        password = issue_credentials(session, device_id=args.device_id)
        session.commit()
        _refresh(cfg, session)
    print(f"mqtt password: {password}   (shown once)")
    return 0


def _device_revoke(args: argparse.Namespace) -> int:
    from cloud_sync.registry import revoke_device

    cfg = _config(args)
    with _session(cfg) as session:
        revoke_device(session, device_id=args.device_id)
        session.commit()
        _refresh(cfg, session)
    print(f"device {args.device_id} revoked")
    return 0


def _device_list(args: argparse.Namespace) -> int:
    from cloud_sync.registry import list_devices

    with _session(_config(args)) as session:
        print(f"{'store':<20} {'device':<20} {'state':<8} created")
        for d in list_devices(session, store_id=args.store):
            state = "revoked" if d.revoked_at else "active"
            print(f"{d.store_id:<20} {d.device_id:<20} {state:<8} {d.created_at:%Y-%m-%d %H:%M}")
    return 0


def _broker_config(args: argparse.Namespace) -> int:
    from cloud_sync.broker_admin import refresh_broker

    cfg = _config(args)
    users = _stdin_logins(cfg) if args.logins_stdin else _registry_users(cfg)
    result = refresh_broker(cfg, users, hosts=args.host, live=not args.no_reload)
    files = result.files
    print(f"broker files in {files.conf.parent}: " + (f"changed {', '.join(result.changed)}" if result.changed else "unchanged"))
    print(f"  config {files.conf}, passwords {files.passwd}, ACL {files.acl}, TLS in {files.tls.ca_cert.parent}")
    if result.warning:
        print(f"  {result.warning}")
    elif result.reloaded:
        print("  running broker reloaded")
    elif not args.no_reload:
        print(f"  start the broker with: mosquitto -c {files.conf}")
    return 0


def _stdin_logins(cfg):
    import sys

    from cloud_sync.broker import files_from_config, read_passwd
    from cloud_sync.broker_logins import logins_from_json

    return logins_from_json(sys.stdin.read(), read_passwd(files_from_config(cfg.cloud).passwd))


def _registry_users(cfg):
    from cloud_sync.registry import broker_users

    with _session(cfg) as session:
        users = broker_users(session)
    if not any(u.kind == "ingest" for u in users):
        print("warning: no ingest worker account yet (storelens cloud worker add NAME): nothing would read the windows")
    return users


def _refresh(cfg, session) -> None:
    from cloud_sync.broker_admin import refresh_broker
    from cloud_sync.registry import broker_users

    result = refresh_broker(cfg, broker_users(session))
    print(f"broker password file and ACL updated ({result.files.passwd})"
          + ("; broker reloaded" if result.reloaded else "") + (f"; {result.warning}" if result.warning else ""))


def _worker_add(args: argparse.Namespace) -> int:
    from cloud_sync.registry import set_ingest_password
    from storelens.secrets import ingest_username

    cfg = _config(args)
    username = ingest_username(cfg, args.name)
    given = _read_password_stdin(f"worker {args.name}") if args.password_stdin else None
    with _session(cfg) as session:
        password, outcome = set_ingest_password(session, username=username, password=given)
        session.commit()
        if outcome != "unchanged" and not args.registry_only:
            _refresh(cfg, session)
    print(f"ingest worker {args.name}: broker account {username} {outcome}")
    if given is None:
        print(f"mqtt password: {password}   (shown once: give it to `storelens cloud ingest --worker {args.name}` "
              "as STORELENS_INGEST_PASSWORD or in cloud.ingest_password_file)")
    return 0


def _worker_revoke(args: argparse.Namespace) -> int:
    from cloud_sync.registry import revoke_ingest_account
    from storelens.secrets import ingest_username

    cfg = _config(args)
    username = ingest_username(cfg, args.name)
    with _session(cfg) as session:
        revoke_ingest_account(session, username=username)
        session.commit()
        _refresh(cfg, session)
    print(f"ingest worker {args.name}: broker account {username} revoked")
    return 0


def _worker_list(args: argparse.Namespace) -> int:
    from cloud_sync.registry import list_ingest_accounts

    with _session(_config(args)) as session:
        print(f"{'account':<40} {'state':<8} created")
        for a in list_ingest_accounts(session):
            print(f"{a.username:<40} {'revoked' if a.revoked_at else 'active':<8} {a.created_at:%Y-%m-%d %H:%M}")
    return 0


def _pos_import(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from cloud_sync import pos
    from storelens.errors import InputError

    source = "stdin" if args.file == "-" else Path(args.file).name
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"{args.file}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{args.file}: not UTF-8 text; export the CSV as UTF-8") from None
    engine = _engine(_config(args))
    rows = pos.parse_csv(text, pos.store_zones(engine), source=source)
    if args.dry_run:
        print(f"{source}: {len(rows)} hours for {len({r.store_id for r in rows})} store(s) are valid; "
              "nothing imported (dry run)")
        return 0
    summary = pos.import_rows(engine, rows, source=source, imported_by="")
    print(f"{source}: {summary.hours} hours imported for {', '.join(summary.stores)} "
          f"({summary.replaced} replaced earlier imports), "
          f"{summary.first:%Y-%m-%d %H:%M}..{summary.last:%Y-%m-%d %H:%M} UTC")
    return 0


def _alerts_run(args: argparse.Namespace) -> int:
    from cloud_sync.alerts.service import run_alerts
    from storelens.signals import stop_on_signals

    run_alerts(_config(args), stop_on_signals(), once=args.once)
    return 0


def _alerts_status(args: argparse.Namespace) -> int:
    from cloud_sync.alerts.state import current_states

    states = current_states(_engine(_config(args)))
    for state in states:
        print(f"{'FIRING' if state.active else 'ok':<7} {state.since:%Y-%m-%d %H:%M} {state.kind:<15} {state.summary}")
    print(f"{sum(s.active for s in states)} firing, {sum(not s.active for s in states)} resolved")
    return 0


def _alerts_test(args: argparse.Namespace) -> int:
    from cloud_sync.alerts.service import send_test

    for destination, outcome in send_test(_config(args)):
        print(f"{destination}: {outcome}")
    return 0
