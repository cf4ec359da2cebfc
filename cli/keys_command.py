"""``tradeflow keys add|list|revoke``: API keys in tradeflow's database (the server's, on ``DATABASE_URL``).

``add`` prints the new key once: only its hash is stored. Whoever runs this command has the database's
credentials, so it acts as an admin without a key of its own.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any


def add_keys_parser(sub: Any) -> None:
    keys = sub.add_parser("keys", help="add, list or revoke API keys (identity and roles)")
    actions = keys.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="store a new key for an identity and print it (once)")
    add.add_argument("identity", help="who holds the key, e.g. j.doe or airflow-prod")
    add.add_argument(
        "--role", action="append", required=True, help="viewer, operator, approver or admin (repeat, or a,b)"
    )
    add.set_defaults(handler=_add)
    listing = actions.add_parser("list", help="list keys (id, identity, roles; never the key)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id (as `keys list` shows it)")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=_revoke)


def _add(args: argparse.Namespace) -> int:
    from access.runtime import key_store

    info, key = key_store().add(args.identity, args.role, created_by=f"cli:{getpass.getuser()}")
    print(f"key id {info.key_id} for {info.identity} (roles: {', '.join(info.roles)})")  # noqa: T201
    print(key)  # noqa: T201
    print("This is the only time the key is shown; send it in the x-api-key header.")  # noqa: T201
    return 0


def _list(args: argparse.Namespace) -> int:
    from access.runtime import key_store

    keys = key_store().list(include_revoked=args.all)
    if args.json:
        print(json.dumps([k.as_dict() for k in keys], indent=2))  # noqa: T201
        return 0
    for k in keys:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        print(f"{k.key_id}  {k.identity:24} {','.join(k.roles):32} {k.created_at}  {state}")  # noqa: T201
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from access.runtime import key_store

    info = key_store().revoke(args.key_id)
    print(f"revoked key {info.key_id} of {info.identity}")  # noqa: T201
    return 0
