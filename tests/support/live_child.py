"""A child process that writes to, merges or opens a live index, for the kill tests
(tests/processes/test_live_kills.py): `python -m tests.support.live_child write INDEX PREFIX
BATCHES` writes batches of `BATCH` articles named PREFIX-<batch>-<item> and prints
`ack <batch> <generation>` once each is acknowledged; `merge INDEX` runs merges until none is
due; `open INDEX` opens a reader and prints the passages it sees. The fake embedder keeps
each process fast: what is under test is the file handling and the locking.
"""

from __future__ import annotations

import sys

from semsearch.index.ingest.articles import Article
from semsearch.index.live import open_reader, open_writer
from semsearch.index.live.merge import compact
from tests.support.fake_embedder import HashingEmbedder

BATCH = 5
#: Small tiers, so that merges run often during the kill tests.
SETTINGS = {"live_merge_factor": 3, "live_refresh_seconds": 0}


def batch_articles(prefix: str, batch: int) -> list[Article]:
    return [
        Article(
            id=f"{prefix}-{batch}-{item}",
            title=f"Report {batch} {item}",
            text=f"Harbour ferry timetable {prefix}{batch}x{item}. " * 3,
        )
        for item in range(BATCH)
    ]


def main(argv: list[str]) -> None:
    command, index = argv[0], argv[1]
    if command == "write":
        prefix, batches = argv[2], int(argv[3])
        writer = open_writer(index, HashingEmbedder(dimension=32), SETTINGS)
        for batch in range(batches):
            report = writer.upsert(batch_articles(prefix, batch))
            print(f"ack {batch} {report.generation}", flush=True)
        writer.close()
    elif command == "merge":
        print(f"merged {compact(index, SETTINGS)}", flush=True)
    elif command == "open":
        reader = open_reader(index, SETTINGS)
        print(f"passages {reader.view().state.passages}", flush=True)
        reader.close()
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
