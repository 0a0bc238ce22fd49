#!/usr/bin/env python
"""Title weight on the keyword side, measured: the passages' BM25 rebuilt with each
article's title counted W times (today: once, before the passage), keyword and hybrid
nDCG@10 over a judged collection, everything else the built index's own.

    .venv/bin/python scripts/title_weight_study.py --index INDEX \
        --collection /tmp/team/relevance/collections/scifact --weights 1,2,3 --work DIR

Repeating the title W times is BM25F with field weights (W, 1) over one shared length
normalisation: a title word's frequency is multiplied by W before saturation, and the
passage's length grows by the title's (W - 1) extra copies, as BM25F's weighted length
does. For each W the index's version folder is copied into `--work`, its `keyword/` written
again and its manifest's checksums renewed, then searched through `SearchService` with the
model the index was built with (`semsearch.search.evaluate.evaluate`: k=100, group=article,
as `semsearch eval` and `scripts/relevance_table.py`). The fusion weight stays the one the
build tuned with the title once. Prints one line per weight and mode, with the command,
the machine and the date; the judgments are for measuring only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.keyword_index import write_bm25
from semsearch.index.storage.manifest import KEYWORD_DIR, MANIFEST_NAME, STORE_NAME, file_digest
from semsearch.index.storage.store import StoreReader
from semsearch.search.evaluate import evaluate, read_qrels, read_queries
from semsearch.search.service import SearchService


def weighted_copy(version: Path, out: Path, weight: int) -> Path:
    """A copy of the version folder whose passage BM25 counts each title `weight` times."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(version, out)
    reader = StoreReader(out / STORE_NAME)
    ids: list[int] = []
    texts: list[str] = []
    languages: list[str | None] = []
    with contextlib.closing(reader.connect()) as db:
        for chunk in reader.iter_chunks(db):
            ids.append(chunk.chunk_id)
            texts.append(f"{chunk.article['title']}\n" * weight + chunk.text)
            languages.append(chunk.article.get("language"))
    folder = out / KEYWORD_DIR
    shutil.rmtree(folder)
    write_bm25(ids, texts, folder, languages)
    manifest_path = out / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files = {k: v for k, v in manifest["files"].items() if not k.startswith(f"{KEYWORD_DIR}/")}
    for path in sorted(folder.iterdir()):
        files[f"{KEYWORD_DIR}/{path.name}"] = file_digest(path)
    manifest["files"] = files
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--collection", type=Path, required=True)
    parser.add_argument("--weights", default="1,2,3")
    parser.add_argument("--modes", default="keyword,hybrid")
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    described = json.loads((args.collection / "collection.json").read_text(encoding="utf-8"))
    queries = read_queries(Path(described["queries"]))
    qrels = read_qrels(Path(described["qrels"]))
    version = resolve_index_dir(args.index)
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores, shared with other jobs; "
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; collection {described['name']}, "
        f"{len(qrels)} judged queries"
    )
    for weight in (int(w) for w in args.weights.split(",")):
        started = time.process_time()
        folder = weighted_copy(version, args.work / f"title-{weight}", weight)
        service = SearchService.open(folder, {"search_timeout_ms": 600_000})
        try:
            for mode in args.modes.split(","):
                report = evaluate(service, queries, qrels, mode)
                print(
                    f"title weight {weight}  {mode:8s} nDCG@10 {report.ndcg_10:.4f}  "
                    f"R@100 {report.recall_100:.4f}  MRR@10 {report.mrr_10:.4f}",
                    flush=True,
                )
        finally:
            service.close()
        print(f"  (CPU {time.process_time() - started:.0f} s)", flush=True)
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
