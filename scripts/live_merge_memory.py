"""Peak memory of a live index's largest merge and of a reader of its result
(docs/live-index.md, "Memory of a merge and of a reader").

`make` writes 25 flat folder segments of 10,000 passages into WORK/inputs from the first five
segments of a live index filled by `scripts/bench_ingest.py --fill-only` (their word counts,
each used five times with new chunk ids; vectors synthesised around the study's 300 real
ones, `scripts/live_hnsw_study.py`'s base.npy). `merge` merges the 25 into one segment of
250,000 (`live_max_segment`) with its graph, as a merge does, in this process (no model),
then reads it back as a reader does and runs 200 dense searches; each step prints the peak
and current RSS, anonymous and file-backed apart.

    .venv/bin/python scripts/live_merge_memory.py make \
        --fill /tmp/bench/.live-250000.versions/VERSION/segments
    .venv/bin/python scripts/live_merge_memory.py merge
"""

from __future__ import annotations

import argparse
import gc
import inspect
import os
import shutil
import time
from pathlib import Path

import numpy as np

from semsearch.index.live import merge as live_merge
from semsearch.index.live import segments as live_segments

INPUTS, PART = 25, 10_000


def memory(reset: bool = False) -> str:
    """Peak RSS since the last reset (VmHWM) and RSS now, anonymous and files apart."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())

    def mb(key: str) -> float:
        return int(status[key].split()[0]) / 1024

    text = (
        f"peak RSS {mb('VmHWM'):,.0f} MB; now RSS {mb('VmRSS'):,.0f} MB "
        f"(anonymous {mb('RssAnon'):,.0f}, files {mb('RssFile'):,.0f})"
    )
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    return text


def make(fill: Path, work: Path, base: np.ndarray) -> None:
    from semsearch.bench.runner import synthesise

    for k in range(INPUTS):
        source = live_segments.read_folder(k % 5 + 1, fill / str(k % 5 + 1), graph=False)
        assert len(source) == PART, len(source)
        segment = live_segments.Segment(
            id=k + 1,
            ids=np.asarray(source.ids) + (k // 5) * 5 * PART,
            vectors=synthesise(base, PART, seed=k),
            indptr=np.asarray(source.indptr),
            rows=np.asarray(source.rows),
            counts=np.asarray(source.counts),
            lengths=np.asarray(source.lengths),
            vocabulary=source.vocabulary,
        )
        live_segments.write_folder(segment, work / "inputs" / str(k + 1), graph=False)
    print(f"{INPUTS} segments of {PART:,} in {work / 'inputs'}", flush=True)


def merge_and_read(work: Path, queries: np.ndarray) -> None:
    import faiss

    out = work / "merged"
    shutil.rmtree(out, ignore_errors=True)
    memory(reset=True)
    started, cpu = time.perf_counter(), time.process_time()
    inputs = [
        live_segments.read_folder(k + 1, work / "inputs" / str(k + 1), graph=False)
        for k in range(INPUTS)
    ]
    if "folder" in inspect.signature(live_merge.merge_segments).parameters:
        merged = live_merge.merge_segments(99, inputs, [None] * INPUTS, out)
    else:  # the merge before it wrote into its folder
        merged = live_merge.merge_segments(99, inputs, [None] * INPUTS)
    print(f"rows merged in {time.perf_counter() - started:.0f} s: {memory()}", flush=True)
    live_segments.write_folder(merged, out, graph=True)
    print(
        f"written with its graph in {time.perf_counter() - started:.0f} s "
        f"(CPU {time.process_time() - cpu:.0f} s): {memory()}",
        flush=True,
    )
    del merged, inputs
    gc.collect()
    memory(reset=True)
    faiss.omp_set_num_threads(1)
    segment = live_segments.with_exact_index(live_segments.read_folder(99, out, graph=True))
    print(f"a reader of it ({type(segment.graph).__name__}): {memory()}", flush=True)
    cpu = time.process_time()
    for query in queries:
        live_segments.dense_search(segment, query, 100, None, 1024)
    each = (time.process_time() - cpu) * 1000 / len(queries)
    print(
        f"after {len(queries)} dense searches (depth 100, efSearch 1024, {each:.2f} ms CPU "
        f"each): {memory()}; load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["make", "merge"])
    parser.add_argument("--fill", type=Path, help="segments/ of a live index filled by the bench")
    parser.add_argument("--work", type=Path, default=Path("/tmp/live-merge-memory"))
    parser.add_argument("--study", type=Path, default=Path("/tmp/live-hnsw-study"))
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}; load average {os.getloadavg()[0]:.1f}", flush=True)
    if args.step == "make":
        assert args.fill is not None, "--fill is needed to make the inputs"
        make(args.fill, args.work, np.load(args.study / "base.npy"))
    else:
        merge_and_read(args.work, np.load(args.study / "queries-200.npy"))


if __name__ == "__main__":
    main()
