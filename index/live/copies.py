"""Syndicated copies of the articles a live index already holds: MinHash LSH bands in the
store, looked up by each new article of a write.

A build finds copies among all its articles at once (`semsearch.index.ingest.copies`); a
write sees only its own batch, so the stored articles' signatures are kept in the store, as
the bands MinHash LSH compares (`live_copy_bands`: one row per band of each stored
article, the band's `r` hash values hashed to one 64-bit integer, keyed by it). A new article
looks up its own `b` band keys, one B-tree search each: its cost depends on the bands and
the candidates found, not on how many articles are stored (docs/live-index.md, "Copies").
The candidates' stored texts then decide, by the exact Jaccard similarity of their word
shingles (`MIN_JACCARD`), exactly as within a batch.

The same parameters as a build's LSH (threshold `LSH_THRESHOLD`, `NUM_PERM` permutations,
crc32 hashing), so a pair found within a batch is found across writes too.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from semsearch.index.ingest.copies import (
    LSH_THRESHOLD,
    MIN_JACCARD,
    MIN_SHINGLES,
    NUM_PERM,
    shingles,
)


@dataclass(frozen=True)
class StoredMatch:
    """A stored article a new one is a copy of (or the same page as)."""

    article_id: str
    similarity: float
    url: str | None
    publication: str | None


@functools.cache
def bands() -> tuple[int, int]:
    """(b, r): datasketch's choice of bands and rows for the build's threshold."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    return int(lsh.b), int(lsh.r)


def band_keys(text: str) -> list[int] | None:
    """The LSH band keys of a text's MinHash signature (None: too short to be a copy)."""
    from datasketch import MinHash

    grams = shingles(text)
    if len(grams) < MIN_SHINGLES:
        return None
    sketch = MinHash(num_perm=NUM_PERM, hashfunc=zlib.crc32)
    sketch.update_batch([g.encode("utf-8") for g in grams])
    values = np.asarray(sketch.hashvalues, dtype=np.uint64)
    b, r = bands()
    keys = []
    for band in range(b):
        digest = hashlib.blake2b(
            band.to_bytes(2, "little") + values[band * r : (band + 1) * r].tobytes(),
            digest_size=8,
        ).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def add_bands(db: sqlite3.Connection, article_id: str, keys: Iterable[int] | None) -> None:
    """Keep a stored article's band keys (in the caller's transaction)."""
    if keys is None:
        return
    db.executemany(
        "INSERT OR IGNORE INTO live_copy_bands VALUES (?, ?)", [(k, article_id) for k in keys]
    )


def remove_bands(db: sqlite3.Connection, article_id: str) -> None:
    db.execute("DELETE FROM live_copy_bands WHERE article_id = ?", (article_id,))


def candidates(db: sqlite3.Connection, keys: list[int]) -> list[str]:
    """The stored articles sharing a band with these keys (one index search a band)."""
    if not keys:
        return []
    marks = ",".join("?" * len(keys))
    rows = db.execute(
        f"SELECT DISTINCT article_id FROM live_copy_bands WHERE band IN ({marks})", keys
    )
    return sorted(str(r[0]) for r in rows)


def best_stored_match(
    db: sqlite3.Connection, text: str, keys: list[int] | None, exclude: set[str]
) -> StoredMatch | None:
    """The stored article `text` is most like, when its shingles' Jaccard similarity with
    it reaches MIN_JACCARD; articles in `exclude` (the batch's own ids) are not compared."""
    if keys is None:
        return None
    found = [c for c in candidates(db, keys) if c not in exclude]
    if not found:
        return None
    grams = shingles(text)
    best: StoredMatch | None = None
    for article_id in found:
        row = db.execute(
            "SELECT text, url, publication FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        if row is None:
            continue
        other = shingles(str(row[0]))
        score = len(grams & other) / len(grams | other) if grams | other else 0.0
        if score >= MIN_JACCARD and (best is None or score > best.similarity):
            best = StoredMatch(article_id, round(score, 3), row[1], row[2])
    return best
