"""Creates, lists and revokes API keys in every service's database.

  python -m services.common.keys create --role clinic --scope KYZ-0001 --name "Emhana No. 1 CIS"
  python -m services.common.keys list
  python -m services.common.keys revoke KEY_ID
  python -m services.common.keys local .local/keys.env   (make run: local keys, once)

The full key is printed once and never stored; each service keeps only its hash.
"""
from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from services.common.auth import ROLES, SCOPED_ROLES, new_key
from services.common.settings import SERVICE_PORTS, Settings, get_settings


async def create(settings: Settings, role: str, scope: str | None, name: str,
                 services: list[str] | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if (role in SCOPED_ROLES) != bool(scope):
        raise ValueError(f"roles {', '.join(SCOPED_ROLES)} need --scope; others take none")
    key, key_id, digest = new_key()
    for service in services or list(SERVICE_PORTS):
        conn = await asyncpg.connect(settings.database_dsn(service))
        try:
            await conn.execute(
                "INSERT INTO api_keys (key_id, secret_sha256, role, scope, name) VALUES ($1, $2, $3, $4, $5)",
                key_id, digest, role, scope, name)
        finally:
            await conn.close()
    return key


async def revoke(settings: Settings, key_id: str) -> int:
    n = 0
    for service in SERVICE_PORTS:
        conn = await asyncpg.connect(settings.database_dsn(service))
        try:
            result = await conn.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL", key_id)
            n += int(result.split()[-1])
        finally:
            await conn.close()
    return n


async def list_keys(settings: Settings) -> list[dict]:
    conn = await asyncpg.connect(settings.database_dsn("registry"))
    try:
        rows = await conn.fetch("SELECT key_id, role, scope, name, created_at, revoked_at FROM api_keys ORDER BY created_at")
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def local_keys(settings: Settings, path: str) -> bool:
    """Writes a file of local keys (admin, operator, payment_gateway, state_budget) unless it exists
    and its keys still work; True when it wrote one. Scoped keys (employer, clinic) are made with
    `create --scope`."""
    import os
    from pathlib import Path

    from services.common.auth import parse_key

    file = Path(path)
    if file.exists():
        first = next((line.split("=", 1)[1] for line in file.read_text().splitlines() if "=" in line), "")
        parsed = parse_key(first.strip())
        if parsed:
            conn = await asyncpg.connect(settings.database_dsn("registry"))
            try:
                if await conn.fetchval("SELECT 1 FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL", parsed[0]):
                    return False
            finally:
                await conn.close()
    lines = ["# Local API keys made by `make run` (python -m services.common.keys local). Keep private.",
             "# curl -H \"Authorization: Bearer $OSMS_ADMIN_KEY\" http://127.0.0.1:8002/v1/clinics"]
    for role in ("admin", "operator", "payment_gateway", "state_budget"):
        lines.append(f"OSMS_{role.upper()}_KEY={await create(settings, role, None, f'local {role}')}")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("\n".join(lines) + "\n")
    os.chmod(file, 0o600)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.common.keys", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create")
    c.add_argument("--role", required=True, choices=ROLES)
    c.add_argument("--scope")
    c.add_argument("--name", required=True)
    r = sub.add_parser("revoke")
    r.add_argument("key_id")
    sub.add_parser("list")
    loc = sub.add_parser("local")
    loc.add_argument("path")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "create":
        try:
            print(asyncio.run(create(settings, args.role, args.scope, args.name)))
        except ValueError as exc:
            sys.exit(str(exc))
    elif args.command == "revoke":
        n = asyncio.run(revoke(settings, args.key_id))
        print(f"revoked in {n} service databases" if n else "no such active key")
        sys.exit(0 if n else 1)
    elif args.command == "local":
        wrote = asyncio.run(local_keys(settings, args.path))
        print(f"local keys {'written to' if wrote else 'kept in'} {args.path}")
    else:
        for k in asyncio.run(list_keys(settings)):
            state = "revoked" if k["revoked_at"] else "active"
            print(f"{k['key_id']}  {k['role']:<16} {k['scope'] or '-':<16} {state:<8} {k['name']}")


if __name__ == "__main__":
    main()
