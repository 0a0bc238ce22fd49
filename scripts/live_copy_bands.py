#!/usr/bin/env python
"""What finding copies of stored articles costs a write as the index grows.

    .venv/bin/python scripts/live_copy_bands.py --sizes 1000,10000,100000 [--lookups 100]

For each size N: a scratch store with the live index's `live_copy_bands` table
(`semsearch.index.live.catalog`) holding N articles' band keys (random 64-bit keys, 32 an
article as `live.copies.bands()` gives for the build's threshold), then `--lookups` new
articles' band keys looked up as a write does (`live.copies.candidates`, 32 keys each, as
many misses as a new article that is nobody's copy gives, plus one planted hit). Prints the
look-up's median and p99 per article, CPU time, and the table's bytes per article. Timing a
miss is the honest case: a hit adds one stored text read per candidate, the same at any N.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from semsearch.index.live import catalog
from semsearch.index.live.copies import bands, candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--lookups", type=int, default=100)
    args = parser.parse_args()
    count, _ = bands()
    rng = np.random.default_rng(7)
    load = os.getloadavg()[0]
    print(f"band keys an article: {count}; {args.lookups} look-ups a size; load {load:.1f}")
    print("| stored articles | look-up p50 | p99 | CPU a look-up | table bytes an article |")
    print("|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "store.sqlite"
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("BEGIN")
            catalog.create_tables(db)
            db.execute("COMMIT")
            for start in range(0, size, 10_000):
                n = min(10_000, size - start)
                keys = rng.integers(-(2**63), 2**63 - 1, size=(n, count), dtype=np.int64)
                db.execute("BEGIN")
                db.executemany(
                    "INSERT INTO live_copy_bands VALUES (?, ?)",
                    (
                        (int(k), f"article-{start + i:09d}")
                        for i, row in enumerate(keys)
                        for k in row
                    ),
                )
                db.execute("COMMIT")
            db.execute("ANALYZE")
            planted = [int(r[0]) for r in db.execute("SELECT band FROM live_copy_bands LIMIT 1")]
            walls, cpus = [], []
            for i in range(args.lookups):
                keys = [int(k) for k in rng.integers(-(2**63), 2**63 - 1, size=count)]
                if i == 0:
                    keys[0] = planted[0]
                wall, cpu = time.perf_counter(), time.process_time()
                found = candidates(db, keys)
                cpus.append(time.process_time() - cpu)
                walls.append(time.perf_counter() - wall)
                assert i != 0 or found
            db.close()
            walls.sort()
            per_article = os.path.getsize(path) / size
            print(
                f"| {size:,} | {statistics.median(walls) * 1000:.3f} ms | "
                f"{walls[int(0.99 * (len(walls) - 1))] * 1000:.3f} ms | "
                f"{statistics.mean(cpus) * 1000:.3f} ms | {per_article:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
