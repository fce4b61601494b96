"""`storelens cloud deadletters list|show|replay|purge`: refused messages, for an operator (added to `cloud`)."""

from __future__ import annotations

import argparse
import json


def add_parsers(sub) -> None:
    group = sub.add_parser("deadletters", help="messages ingest refused: list, show, replay, purge payloads")
    acts = group.add_subparsers(dest="deadletters_command", required=True)
    listing = acts.add_parser("list", help="newest first, one line each")
    _filters(listing)
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_list)
    show = acts.add_parser("show", help="one dead letter in full")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="as JSON")
    show.add_argument("--payload", action="store_true", help="print the whole kept payload, not only its head")
    show.set_defaults(func=_show)
    again = acts.add_parser("replay", help="run dead letters through ingest again; store those valid now")
    again.add_argument("ids", type=int, nargs="*", help="dead letter ids (or --all)")
    again.add_argument("--all", action="store_true", help="every letter not yet stored by a replay (with the filters)")
    _filters(again)
    again.set_defaults(func=_replay)
    purge = acts.add_parser("purge", help="clear payloads older than cloud.dead_letter_payload_days")
    purge.add_argument("--older-than-days", type=float, help="instead of cloud.dead_letter_payload_days")
    purge.set_defaults(func=_purge)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", help="reason starts with this: malformed, unauthorised, conflict, oversized ...")
    parser.add_argument("--store", help="messages on this store's topics only")


def _engine(args: argparse.Namespace):
    from storelens.cli.cmd_cloud import _config, _engine

    cfg = _config(args)
    return cfg, _engine(cfg)


def _line(letter) -> str:
    from storelens.logsetup import plain

    state = "" if letter.replay_result is None else f"  [replay: {letter.replay_result}]"
    kept = "" if letter.payload is not None else " (payload not kept)"
    return plain(f"{letter.id:>6}  {letter.received_at:%Y-%m-%d %H:%M:%S}  {letter.topic}  {letter.size} B{kept}  "
                 f"{letter.reason}{state}")


def _list(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from cloud_sync.db import repository as repo
    from cloud_sync.deadletters import describe

    _cfg, engine = _engine(args)
    with Session(engine) as session:
        letters = repo.dead_letters(session, limit=args.limit, reason=args.reason, store_id=args.store)
    for letter in letters:
        print(json.dumps(describe(letter)) if args.json else _line(letter))
    if not args.json:
        print(f"{len(letters)} dead letter(s)" + (f" (newest {args.limit})" if len(letters) == args.limit else ""))
    return 0


def _show(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from cloud_sync.db.models import DeadLetter
    from cloud_sync.deadletters import describe
    from storelens.errors import InputError
    from storelens.logsetup import plain

    _cfg, engine = _engine(args)
    with Session(engine) as session:
        letter = session.get(DeadLetter, args.id)
        if letter is None:
            raise InputError(f"dead letter {args.id}: no such dead letter")
        info = describe(letter)
        if args.payload and letter.payload is not None:
            info["payload"] = letter.payload.decode("utf-8", errors="replace")
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    body = info.pop("payload", None) or info.pop("payload_head")
    info.pop("payload_head", None)
    for key, value in info.items():
        print(f"{key:<14} {value}")
    print(f"{'payload' if args.payload else 'payload head':<14} {plain(body)}")  # a hostile payload: no terminal codes
    return 0


def _replay(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from cloud_sync.db import repository as repo
    from cloud_sync.deadletters import replay
    from storelens.errors import InputError, UsageError

    if bool(args.ids) == args.all:
        raise UsageError("replay: give dead letter ids, or --all (with --reason/--store to narrow it)")
    _cfg, engine = _engine(args)
    ids = args.ids
    if args.all:
        with Session(engine) as session:
            ids = [letter.id for letter in repo.dead_letters(session, limit=100_000, reason=args.reason,
                                                             store_id=args.store, pending=True)
                   if letter.payload is not None]
    stored = failed = 0
    for letter_id in sorted(ids):
        try:
            outcome = replay(engine, letter_id)
        except InputError as exc:
            print(f"{letter_id:>6}  cannot replay: {exc}")
            failed += 1
            continue
        stored += outcome.stored
        print(f"{letter_id:>6}  {outcome.result}")
    print(f"replayed {len(ids)}: {stored} stored, {len(ids) - stored - failed} still refused, {failed} not replayable")
    return 0 if stored == len(ids) else 1  # 1: some letter is still refused or could not be replayed


def _purge(args: argparse.Namespace) -> int:
    from cloud_sync.deadletters import purge

    cfg, engine = _engine(args)
    days = args.older_than_days if args.older_than_days is not None else cfg.cloud.dead_letter_payload_days
    print(f"cleared the payload of {purge(engine, days)} dead letter(s) older than {days:g} days")
    return 0
