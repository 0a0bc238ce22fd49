"""Aliases: names that point at a collection, kept in one small JSON file written atomically.

A client searches `/api/collections/news/search` where `news` is an alias; a rebuilt index
is served as a new collection (`news-2026-12-07`) and the alias moved onto it in one step,
so the client's URL never changes (Elasticsearch's `_aliases`, Typesense's and Qdrant's
collection aliases). The file is `{"aliases": {"news": "news-2026-12-07"}}`: written to a
temporary file beside it, fsync'd, renamed over the old one and the folder fsync'd, so a
reader sees the old map or the new one, and a crash leaves one of the two.

What a target must be (a collection the server knows) is the server's check
(`semsearch.web.collections`); names are checked here, the same rule as collection names.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path

from semsearch.errors import BadQueryError

#: A collection or alias name: a letter or digit, then letters, digits, `_`, `-`, `.`;
#: at most 64 characters (it sits in URLs and file names).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_NAME_CHARS = 64


def check_name(name: str, what: str = "collection") -> str:
    """`name` if it is a valid collection or alias name; BadQueryError saying why not."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        shown = repr(name) if len(str(name)) <= 80 else repr(str(name)[:80]) + "..."
        raise BadQueryError(
            f"invalid {what} name {shown}: 1 to {MAX_NAME_CHARS} characters, letters, digits, "
            "'_', '-' and '.', starting with a letter or digit"
        )
    return name


class AliasFile:
    """The aliases of one file: read when it changes on disk, written atomically."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime_ns, size) read
        self._aliases: dict[str, str] = {}

    def read(self) -> dict[str, str]:
        """The aliases as the file holds them now (empty when there is no file)."""
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._seen, self._aliases = None, {}
                return {}
            # A new inode on every write (a rename): two writes in one clock tick still differ.
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if seen != self._seen:
                self._aliases = self._load()
                self._seen = seen
            return dict(self._aliases)

    def _load(self) -> dict[str, str]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadQueryError(f"cannot read the aliases file {self.path}: {exc}") from exc
        aliases = raw.get("aliases") if isinstance(raw, dict) else None
        if not isinstance(aliases, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()
        ):
            raise BadQueryError(
                f"the aliases file {self.path} is not {{'aliases': {{name: target}}}}"
            )
        return dict(aliases)

    def set(self, name: str, target: str) -> dict[str, str]:
        """Point `name` at `target` (written atomically); the aliases after the move."""
        check_name(name, "alias")
        check_name(target, "target")
        aliases = self.read()
        aliases[name] = target
        self._write(aliases)
        return aliases

    def remove(self, name: str) -> dict[str, str]:
        """Remove the alias `name` (KeyError if there is none); the aliases after."""
        aliases = self.read()
        del aliases[name]
        self._write(aliases)
        return aliases

    def _write(self, aliases: dict[str, str]) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            body = json.dumps({"aliases": dict(sorted(aliases.items()))}, indent=2) + "\n"
            fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(body)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
            stat = self.path.stat()
            self._seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            self._aliases = dict(aliases)
