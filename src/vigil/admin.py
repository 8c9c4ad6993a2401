"""``vigil user add|passwd|list|remove`` and ``vigil token create``: users and tokens, in the
database of the config's storage. They work while the server runs, and take effect at its
next request (it reads users and sessions from the database each time).

``vigil storage adopt``: make the configured storage folder the one the database describes
(a new disk, on purpose), with vigil stopped (docs/reliability.md).

``vigil workers rebalance``: ask the running server, through its API, to spread the cameras
over its workers again (an admin's token in ``VIGIL_TOKEN`` or on stdin)."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2 as httpx

from vigil.auth import Access, UserRole
from vigil.auth.store import AuthStore
from vigil.config import VigilConfig, load_config
from vigil.errors import RequestError, StorageError
from vigil.server import base_url
from vigil.storage.identity import KEY, adopt
from vigil.storage.index import Index
from vigil.storage.lock import InstanceLock

if TYPE_CHECKING:
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_REFUSED = 1
REBALANCE_TIMEOUT = 300.0  # seconds: each moving camera stops, then starts on its new worker


def add_commands(sub: Subparsers) -> None:
    user = sub.add_parser("user", help="add, change, list or remove users")
    users = user.add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in UserRole])
    add.add_argument("--cameras", default="*", help="camera names, comma-separated; * = all")
    passwd = users.add_parser("passwd", help="set a user's password (ends its sessions)")
    passwd.add_argument("name")
    for parser in (add, passwd):
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
    users.add_parser("list", help="list the users")
    remove = users.add_parser("remove", help="remove a user, its sessions and tokens")
    remove.add_argument("name")
    token = sub.add_parser("token", help="create a token for programs")
    tokens = token.add_subparsers(dest="action", required=True)
    create = tokens.add_parser("create", help="create a token; it is shown once")
    create.add_argument("name")
    create.add_argument("--user", required=True, help="whose rights the token carries")
    storage = sub.add_parser("storage", help="the storage folder the database describes")
    storages = storage.add_subparsers(dest="action", required=True)
    adopt_ = storages.add_parser(
        "adopt", help="record storage.path as the database's storage (vigil stopped)"
    )
    workers = sub.add_parser("workers", help="the running server's camera worker processes")
    workers_ = workers.add_subparsers(dest="action", required=True)
    rebalance = workers_.add_parser(
        "rebalance", help="spread the cameras over the workers again, by measured CPU"
    )
    rebalance.add_argument(
        "--token-stdin",
        action="store_true",
        help="read an admin's token from stdin (else VIGIL_TOKEN; none with auth off)",
    )
    for parser in (add, passwd, users.choices["list"], remove, create, adopt_, rebalance):
        parser.add_argument("--config", required=True, type=Path, help="the YAML config file")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.command == "storage":
        return _adopt(Path(config.storage.path), Path(config.storage.database))
    if args.command == "workers":
        return _rebalance(config, args)
    index = Index(config.storage.database)
    try:
        access = Access(AuthStore(index.engine))
        handler = {
            ("user", "add"): _add,
            ("user", "passwd"): _passwd,
            ("user", "list"): _list,
            ("user", "remove"): _remove,
            ("token", "create"): _token,
        }[(args.command, args.action)]
        handler(access, args)
    except RequestError as err:
        print(f"vigil: [{err.code}] {err.message}", file=sys.stderr)
        for field in err.errors:
            print(f"  {field.path}: [{field.code}] {field.message}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        index.close()
    return 0


def _adopt(root: Path, database: Path) -> int:
    try:
        lock = InstanceLock([root, database.parent])  # refused while vigil runs
    except StorageError as err:
        print(f"vigil: [{err.code}] {err.message}: stop it first", file=sys.stderr)
        return EXIT_REFUSED
    index = Index(database)
    try:
        before = index.meta(KEY)
        ident = adopt(root, index)
    except StorageError as err:
        print(f"vigil: [{err.code}] {err.message}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        index.close()
        lock.release()
    was = f" (was {before[:8]})" if before and before != ident else ""
    print(f"storage {root} is now the database's storage {ident[:8]}{was}")
    return 0


def _rebalance(config: VigilConfig, args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip() if args.token_stdin else os.environ.get("VIGIL_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = base_url(config) + "/api/system/rebalance"
    verify: str | bool = config.server.tls.cert or True  # a self-signed cert is its own CA
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # not a line per request
    try:
        answer = httpx.post(url, headers=headers, timeout=REBALANCE_TIMEOUT, verify=verify)
    except httpx.HTTPError as err:
        print(f"vigil: the server at {base_url(config)} can't be reached: {err}", file=sys.stderr)
        return EXIT_REFUSED
    body = answer.json() if answer.headers.get("content-type") == "application/json" else {}
    if answer.status_code != 200:
        print(f"vigil: [{body.get('code')}] {body.get('message', answer.text)}", file=sys.stderr)
        if answer.status_code == 401 and not token:
            print("  give an admin's token: VIGIL_TOKEN or --token-stdin", file=sys.stderr)
        return EXIT_REFUSED
    for move in body["moves"]:
        print(f"{move['camera']}: worker {move['before']} -> {move['after']}")
    print(f"{len(body['moves'])} camera(s) moved; {len(body['workers'])} worker(s)")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise RequestError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise RequestError("the passwords differ")
    return first


def _add(access: Access, args: argparse.Namespace) -> None:
    cameras = [c.strip() for c in args.cameras.split(",") if c.strip()]
    row = access.add_user(args.name, UserRole(args.role), cameras, _password(args))
    access.audit("user-add", None, "cli", target=row.name, detail=str(row.role))
    print(f"user {row.name} added: {row.role}, cameras {','.join(row.cameras)}")


def _passwd(access: Access, args: argparse.Namespace) -> None:
    access.set_password(args.name, _password(args))
    access.audit("user-passwd", None, "cli", target=args.name)
    print(f"password of {args.name} changed; its sessions ended")


def _list(access: Access, args: argparse.Namespace) -> None:
    for row in access.store.users():
        print(f"{row.name}\t{row.role}\t{','.join(row.cameras)}")


def _remove(access: Access, args: argparse.Namespace) -> None:
    access.remove_user(args.name)
    access.audit("user-remove", None, "cli", target=args.name)
    print(f"user {args.name} removed, with its sessions and tokens")


def _token(access: Access, args: argparse.Namespace) -> None:
    token_id, secret = access.create_token(args.name, args.user)
    access.audit("token-create", None, "cli", target=f"{args.user}/{args.name}")
    print(f"token {token_id} for {args.user} (shown this once):", file=sys.stderr)
    print(secret)
