"""Access control: bearer keys with a role and a scope, stored hashed in each service's database.

A key looks like `osms_<key_id>_<secret>`; only sha256(secret) is stored (the secret is 32 random
bytes, so a fast hash is enough). Roles and what they may do:
  admin            everything, and managing keys
  operator         the Fund's operators: read everything; register and work appeals
  employer         scope = its BIN: submits and reads only its own payrolls
  clinic           scope = its clinic_id: pushes only its own visits and attachments
  payment_gateway  posts self-payers', entrepreneurs' and platform workers' payments
  state_budget     posts state (republican / local budget) contributions
Health, readiness and metrics need no key. 401 without a valid key, 403 outside role or scope.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from services.common.problems import Problem

ROLES = ("admin", "operator", "employer", "clinic", "payment_gateway", "state_budget")
SCOPED_ROLES = ("employer", "clinic")


# A verified key is trusted this long before it is looked up again: revocation takes effect
# within this many seconds, and the hot paths make no key query per request.
CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str
    scope: str | None

    def require(self, *roles: str, scope: str | None = None) -> "Principal":
        """Allows admin, or one of `roles`; for a scoped role the scope must equal `scope`."""
        if self.role == "admin":
            return self
        if self.role not in roles:
            raise Problem(403, "Forbidden", f"role {self.role!r} may not do this",
                          type_="https://osms.kz/problems/forbidden")
        if self.role in SCOPED_ROLES and scope is not None and self.scope != scope:
            raise Problem(403, "Forbidden", f"this key acts only for its own {self.role}",
                          type_="https://osms.kz/problems/forbidden")
        return self

    def can_read_all(self) -> bool:
        return self.role in ("admin", "operator")


def new_key() -> tuple[str, str, bytes]:
    """(full key to hand out once, key_id, sha256 of the secret to store)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"osms_{key_id}_{secret}", key_id, hashlib.sha256(secret.encode()).digest()


def parse_key(token: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "osms" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


_UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="osms"'}


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, type_="https://osms.kz/problems/unauthorized",
                   headers=_UNAUTHORIZED_HEADERS)


class KeyStore:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self._cache: dict[str, tuple[float, bytes, Principal | None]] = {}

    async def verify(self, token: str) -> Principal:
        parsed = parse_key(token)
        if parsed is None:
            raise _unauthorized("malformed key")
        key_id, secret = parsed
        digest = hashlib.sha256(secret.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            row = await self.pool.fetchrow(
                "SELECT secret_sha256, role, scope FROM api_keys WHERE key_id = $1 AND revoked_at IS NULL", key_id)
            principal = Principal(key_id, row["role"], row["scope"]) if row else None
            cached = (now, bytes(row["secret_sha256"]) if row else b"", principal)
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[key_id] = cached
        _, stored, principal = cached
        if principal is None or not hmac.compare_digest(stored, digest):
            raise _unauthorized("unknown or revoked key")
        return principal


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("a bearer key is required: Authorization: Bearer osms_...")
    return await request.app.state.ctx.keys.verify(token.strip())


Auth = Annotated[Principal, Depends(authenticate)]


def allow(*roles: str, scope_param: str | None = None):
    """A route dependency: the key's role must be admin or one of `roles`. With `scope_param`, a
    scoped role (employer, clinic) must also own the path parameter of that name; where the scope is
    in the body, the route calls `principal.require(...)` with it."""

    async def check(request: Request, principal: Auth) -> Principal:
        scope = request.path_params.get(scope_param) if scope_param else None
        return principal.require(*roles, scope=scope)

    return Depends(check)


async def insert_key(conn: asyncpg.Connection, role: str, scope: str | None, name: str) -> str:
    """Creates a key in one service database (tests and local set-up); returns the full key."""
    key, key_id, digest = new_key()
    await conn.execute("INSERT INTO api_keys (key_id, secret_sha256, role, scope, name) VALUES ($1, $2, $3, $4, $5)",
                       key_id, digest, role, scope, name)
    return key
