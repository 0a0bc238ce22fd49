"""API keys with scopes, stored hashed in a small SQLite file (setting `api_keys_file`).

A key is `ssk_<id>_<secret>`: `id` (8 hex digits) names it in lists, logs and `revoke`;
`secret` is 32 random bytes (`secrets.token_urlsafe`). Only the SHA-256 of the whole key is
stored, never the key: whoever reads the file cannot call the API with it.

Why SHA-256 and not scrypt: scrypt and its kind are slow on purpose, to make guessing a
person's low-entropy password expensive. These keys are 256 random bits made by us; no
guessing gets near them at any speed, so a slow hash would add nothing but its cost, paid on
every request (tens of milliseconds of CPU, and a lever for anyone who sends many requests
with made-up keys). The stored hash is compared in constant time (`hmac.compare_digest`).

Scopes: `search` (search and read articles, when the server asks for a key for that at all),
`write` (POST/DELETE articles) and `admin` (reloads; it also holds the other two). The key in
`SEMSEARCH_ADMIN_KEY` holds every scope and is not in the file.

The file is read on every check (one indexed SQLite lookup), so a key
created or revoked with the CLI takes effect at once in every worker of a running server.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

SCOPES = ("search", "write", "admin")
#: What each scope lets a key do besides itself: admin holds every scope.
IMPLIED = {"search": {"search"}, "write": {"write"}, "admin": set(SCOPES)}
PREFIX = "ssk"
#: Longest key name, in characters.
MAX_NAME_CHARS = 100
_KEY = re.compile(rf"^{PREFIX}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43}})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT
)
"""


@dataclass(frozen=True)
class KeyRecord:
    """One key as stored: everything but the key itself."""

    id: str
    name: str
    scopes: frozenset[str]
    created: str
    revoked: str | None = None

    def allows(self, scope: str) -> bool:
        """Whether this key may do what `scope` names."""
        return any(scope in IMPLIED[held] for held in self.scopes if held in IMPLIED)


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes given, checked; ValueError naming the unknown one."""
    chosen = frozenset(s.strip().lower() for s in scopes if s.strip())
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}: choose from {', '.join(SCOPES)}")
    if not chosen:
        raise ValueError(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return chosen


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """The keys file: create, list, revoke, and check a presented key."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        if not create and not self.path.exists():
            raise FileNotFoundError(f"no keys file at {self.path}: create a key first")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=10)) as db:
            db.row_factory = sqlite3.Row
            if create:
                db.execute(_SCHEMA)
                self.path.chmod(0o600)  # hashes only, but nobody else's business
            with db:
                yield db

    def create(self, name: str, scopes: Iterable[str]) -> tuple[KeyRecord, str]:
        """A new key: its record, and the key itself (shown once, never stored)."""
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME_CHARS:
            raise ValueError(f"a key needs a name of 1 to {MAX_NAME_CHARS} characters")
        chosen = check_scopes(scopes)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._connect(create=True) as db:
            while True:
                key_id = secrets.token_hex(4)
                if db.execute("SELECT 1 FROM keys WHERE id = ?", (key_id,)).fetchone() is None:
                    break
            key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
            db.execute(
                "INSERT INTO keys (id, name, scopes, sha256, created) VALUES (?, ?, ?, ?, ?)",
                (key_id, name, ",".join(sorted(chosen)), _digest(key), created),
            )
        return KeyRecord(key_id, name, chosen, created), key

    def list(self) -> list[KeyRecord]:
        """Every key, revoked ones included, oldest first."""
        if not self.path.exists():
            return []
        with self._connect() as db:
            rows = db.execute("SELECT * FROM keys ORDER BY created, id").fetchall()
        return [_record(row) for row in rows]

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key by id (from `list`); KeyError when there is none."""
        revoked = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._connect() as db:
            db.execute(
                "UPDATE keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (revoked, key_id)
            )
            row = db.execute("SELECT * FROM keys WHERE id = ?", (key_id,)).fetchone()
        if row is None:
            raise KeyError(key_id)
        return _record(row)

    def check(self, key: str) -> KeyRecord | None:
        """The record of a valid, unrevoked key, else None."""
        match = _KEY.match(key)
        if match is None or not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM keys WHERE id = ?", (match.group(1),)).fetchone()
        if row is None or not hmac.compare_digest(row["sha256"], _digest(key)):
            return None
        return None if row["revoked"] else _record(row)


def _record(row: sqlite3.Row) -> KeyRecord:
    scopes = frozenset(s for s in row["scopes"].split(",") if s)
    return KeyRecord(row["id"], row["name"], scopes, row["created"], row["revoked"])
