"""`storelens cloud ...`: ingest, database migrations, store/device registry, broker config."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cloud", help="cloud side: ingest, database, registry, broker")
    sub = parser.add_subparsers(dest="cloud_command", required=True)
    ingest = sub.add_parser("ingest", help="store windows from the broker (until SIGTERM)")
    ingest.add_argument("--worker", help="worker name, unique per ingest process (default: hostname)")
    ingest.add_argument("--retire", action="store_true",
                        help="scale down: store this worker's queued messages, then end its broker session")
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
    conf.set_defaults(func=_broker_config)


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
    from storelens.signals import stop_on_signals

    run_ingest(_config(args), stop_on_signals(), worker=args.worker, retire=args.retire)
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
        return _device_set_password(args, _read_password_stdin(args.device_id))
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


def _read_password_stdin(device_id: str) -> str:
    """One line from standard input, without its line ending; errors never quote what was read."""
    import sys

    from storelens.errors import InputError

    text = sys.stdin.read()
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InputError(f"--password-stdin (device {device_id}): standard input is empty")
    if "\n" in password:
        raise InputError(f"--password-stdin (device {device_id}): expected one line on standard input, got several")
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
    with _session(cfg) as session:
        files, reloaded = refresh_broker(cfg, session, rehash_ingest=True, hosts=args.host)
    print(f"wrote {files.conf}, {files.passwd}, {files.acl} (TLS in {files.tls.ca_cert.parent})")
    print("running broker reloaded" if reloaded else f"start the broker with: mosquitto -c {files.conf}")
    return 0


def _refresh(cfg, session) -> None:
    from cloud_sync.broker_admin import refresh_broker

    files, reloaded = refresh_broker(cfg, session)
    print(f"broker password file and ACL updated ({files.passwd})" + ("; broker reloaded" if reloaded else ""))
