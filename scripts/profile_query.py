#!/usr/bin/env python
"""Where a query's CPU goes: a served SciFact index, one question at a time, the server's
own CPU time per request, and a profile of the same query in-process.

    .venv/bin/python scripts/profile_query.py [--queries 300] [--out /tmp/team/profile/NAME.json]

1. The index: BEIR SciFact (`/work/shared/datasets/scifact`, read where it lies) built with
   `semsearch build` and its defaults into `--index` (default `/tmp/team/profile/scifact`,
   outside the checkout), reused when it opens.
2. Served: `semsearch serve` on 127.0.0.1 (one process, stderr to a file beside the
   output), the first `--queries` test questions sent one at a time over one keep-alive
   connection for each of: hybrid (default), hybrid with infer_dates=false, hybrid with
   facets asked for (where the server takes `facets`), dense and keyword. The server's CPU
   (user + system, every thread, from `/proc/<pid>/stat`) is read before and after each
   run; the figure is its difference over the number of requests. The server's threads are
   listed with their own CPU (`/proc/<pid>/task/*/stat`), so threads no Python profile
   sees (ONNX Runtime's pool, if any) are counted.
3. Encoding alone, in-process: the same questions through the default embedder's
   `encode_query`; CPU (process time) and wall p50.
4. ONNX Runtime's threads: the model's session with intra_op_num_threads 1 and 2, spinning
   on and off, for one query at a time and for a batch of 32 passages, CPU and wall.
5. A profile (cProfile, timed by process CPU) of the default hybrid query in-process through
   the Flask app (test client: everything but the HTTP server), grouped into encoding,
   FAISS, BM25, fusion, article evidence, dates, facets, highlighting, fetching, JSON,
   Flask and the rest; "HTTP server" is the served CPU less the in-process CPU.

Prints a summary and writes every figure to `--out` (JSON). Timings on a shared machine
vary; CPU time varies less than wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCIFACT = Path("/work/shared/datasets/scifact")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def ensure_index(index: Path) -> None:
    """Build SciFact into `index` with the defaults unless a built one opens there."""
    if (index / "manifest.json").exists() or index.is_symlink():
        return
    if not SCIFACT.exists():
        raise SystemExit(f"{SCIFACT} is absent: this profile needs the shared SciFact corpus")
    index.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "semsearch", "build", str(SCIFACT / "corpus.jsonl")]
    command += ["--out", str(index), "--quiet"]
    print("building:", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def read_questions(count: int) -> list[str]:
    """The first `count` SciFact test questions (those with judgments), in file order."""
    judged = set()
    with (SCIFACT / "qrels" / "test.tsv").open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            judged.add(line.split("\t")[0])
    questions = []
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["_id"] in judged:
                questions.append(record["text"])
    return questions[:count]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (threads of one name summed)."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# -- served ----------------------------------------------------------------------------------


def serve(index: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`semsearch serve` on a free 127.0.0.1 port, stderr to `log`; returns once ready."""
    from semsearch.bench.load import free_port

    port = free_port()
    command = [sys.executable, "-m", "semsearch", "serve", "--index", str(index)]
    command += ["--port", str(port), "--reload-interval", "0"]
    env = {**os.environ, "SEMSEARCH_RELOAD_INTERVAL": "0", "HF_HUB_OFFLINE": "1"}
    handle = log.open("w", encoding="utf-8")
    process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    started = time.perf_counter()
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            pass
        if time.perf_counter() - started > 180:
            process.kill()
            raise SystemExit("the server was not ready after 180 s")
        time.sleep(0.1)


def takes_parameter(port: int, name: str, value: str) -> bool:
    """Whether the served API knows a search parameter (an unknown one is a 400)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/api/search?" + urllib.parse.urlencode({"q": "x", name: value}))
    answer = connection.getresponse()
    answer.read()
    return answer.status == 200


def run_served(pid: int, port: int, questions: list[str], params: dict[str, str]) -> dict[str, Any]:
    """The questions sent one at a time; server CPU and client wall per request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def ask(question: str) -> None:
        query = urllib.parse.urlencode({"q": question, "k": "10", **params})
        connection.request("GET", f"/api/search?{query}")
        answer = connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise SystemExit(f"{answer.status} for {question!r}: {body[:300]!r}")

    for question in questions[:10]:  # warm: first-use set-up is not a request's cost
        ask(question)
    threads_before, cpu_before = thread_cpu(pid), cpu_seconds(pid)
    walls = []
    for question in questions:
        started = time.perf_counter()
        ask(question)
        walls.append((time.perf_counter() - started) * 1000)
    cpu = cpu_seconds(pid) - cpu_before
    threads_after = thread_cpu(pid)
    by_thread = {
        name: round((seconds - threads_before.get(name, 0.0)) * 1000 / len(questions), 2)
        for name, seconds in threads_after.items()
        if seconds - threads_before.get(name, 0.0) > 0
    }
    connection.close()
    return {
        "params": params,
        "requests": len(questions),
        "server_cpu_ms": round(cpu * 1000 / len(questions), 2),
        "wall_p50_ms": round(statistics.median(walls), 2),
        "wall_p90_ms": round(percentile(walls, 0.9), 2),
        "cpu_ms_by_thread": by_thread,
    }


# -- in-process ------------------------------------------------------------------------------


def encoding_alone(questions: list[str]) -> dict[str, Any]:
    """The default embedder's encode_query on each question: CPU and wall p50 in ms."""
    from semsearch.index.embed import load_embedder
    from semsearch.settings import get_setting

    embedder = load_embedder(get_setting("model"), get_setting("batch_size"))
    for question in questions[:10]:
        embedder.encode_query(question)
    cpus, walls = [], []
    for question in questions:
        cpu, wall = time.process_time(), time.perf_counter()
        embedder.encode_query(question)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
    return {
        "backend": embedder.backend,
        "cpu_p50_ms": round(statistics.median(cpus), 3),
        "cpu_mean_ms": round(statistics.mean(cpus), 3),
        "wall_p50_ms": round(statistics.median(walls), 3),
    }


def onnx_threads(questions: list[str]) -> list[dict[str, Any]]:
    """The ONNX session at 1 and 2 intra-op threads, spinning on and off: CPU and wall of a
    single query and of a batch of 32 passages."""
    import onnxruntime

    from semsearch.index.embed import load_embedder
    from semsearch.settings import get_setting

    embedder: Any = load_embedder(get_setting("model"), get_setting("batch_size"))
    if not hasattr(embedder, "onnx_file"):
        return []
    passages = [" ".join(questions[i : i + 6]) for i in range(0, 32 * 6, 6)][:32]
    rows = []
    for threads in (1, 2):
        for spinning in ("0", "1"):
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
            embedder._session = onnxruntime.InferenceSession(
                str(embedder.onnx_file), options, providers=["CPUExecutionProvider"]
            )
            for question in questions[:10]:
                embedder.encode_query(question)
            cpu, wall = time.process_time(), time.perf_counter()
            for question in questions:
                embedder.encode_query(question)
            single_cpu = (time.process_time() - cpu) * 1000 / len(questions)
            single_wall = (time.perf_counter() - wall) * 1000 / len(questions)
            encodings = embedder._window.encode_batch(passages)
            embedder._run(encodings)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(5):
                embedder._run(encodings)
            rows.append(
                {
                    "intra_op_threads": threads,
                    "spinning": spinning == "1",
                    "query_cpu_ms": round(single_cpu, 3),
                    "query_wall_ms": round(single_wall, 3),
                    "batch32_cpu_ms": round((time.process_time() - cpu) * 1000 / 5, 1),
                    "batch32_wall_ms": round((time.perf_counter() - wall) * 1000 / 5, 1),
                }
            )
    return rows


#: Profile groups: a group's time is the cumulative time of its functions (file part, name).
GROUPS: dict[str, list[tuple[str, str]]] = {
    "encoding": [("embed", "encode_query")],
    "FAISS (dense list)": [("backend", "dense")],
    "BM25 (keyword list)": [("backend", "keyword_search")],
    "exact-match check": [("service", "_exact_match"), ("ranking", "_exact_match")],
    "fusion": [("fusion", "fuse")],
    "article evidence": [("service", "_with_articles"), ("ranking", "_with_articles")],
    "dates": [("service", "_with_inferred_dates"), ("ranking", "_with_inferred_dates")],
    "facets": [("service", "_facets"), ("ranking", "_facets")],
    "highlighting": [("highlight", "find_highlights"), ("highlight", "best_sentence")],
    # ServedStore.fetch_chunks wraps the store's own: count the inner one only.
    "fetching (SQLite)": [("ranking", "fetched"), ("service", "_fetched")],
    "strength marks": [("strength", "mark_strength")],
    "query validation": [("query", "validate_query")],
    "JSON (shaping + dumps)": [
        ("render", "result_to_dict"),
        ("models", "result_to_dict"),
        ("flask/json", "response"),
    ],
    "search() total": [("service", "search")],
    "Flask request total": [("flask/app", "wsgi_app")],
}


def profile_in_process(index: Path, questions: list[str], params: dict[str, str]) -> dict:
    """cProfile (process CPU) of the questions through the Flask app's test client."""
    from semsearch.search.service import SearchService
    from semsearch.web import create_app

    service = SearchService.open(index)
    app = create_app({"TESTING": True, "SEARCH_SERVICE": service})
    client = app.test_client()

    def ask(question: str) -> None:
        answer = client.get("/api/search", query_string={"q": question, "k": "10", **params})
        if answer.status_code != 200:
            raise SystemExit(f"{answer.status_code} for {question!r}")

    for question in questions[:10]:
        ask(question)
    cpu = time.process_time()
    for question in questions:
        ask(question)
    plain_cpu_ms = (time.process_time() - cpu) * 1000 / len(questions)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for question in questions:
        ask(question)
    profiler.disable()
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
    groups: dict[str, float] = {}
    for group, wanted in GROUPS.items():
        total = 0.0
        for (file, _, name), (_, _, _, cumulative, _) in table.items():
            if any(part in file and name == want for part, want in wanted):
                total += cumulative
        groups[group] = round(total * 1000 / len(questions), 3)
    top = sorted(table.items(), key=lambda item: -item[1][2])[:25]
    service.close()
    return {
        "params": params,
        "in_process_cpu_ms": round(plain_cpu_ms, 2),
        "groups_ms": groups,
        "top_own_time_ms": [
            [f"{Path(file).name}:{line}:{name}", round(own * 1000 / len(questions), 3)]
            for (file, line, name), (_, _, own, _, _) in top
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=Path("/tmp/team/profile/scifact"))
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("/tmp/team/profile/profile.json"))
    parser.add_argument("--skip-onnx", action="store_true", help="leave out step 4")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ensure_index(args.index)
    questions = read_questions(args.queries)
    figures: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the start",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "questions": len(questions),
    }
    process, port = serve(args.index, args.out.with_suffix(".server.log"))
    try:
        variants: dict[str, dict[str, str]] = {
            "hybrid (default)": {},
            "hybrid, infer_dates=false": {"infer_dates": "false"},
            "dense": {"mode": "dense"},
            "keyword": {"mode": "keyword"},
        }
        if takes_parameter(port, "facets", "publication,author,year"):
            variants["hybrid, facets=publication,author,year"] = {
                "facets": "publication,author,year"
            }
        figures["served"] = {
            name: run_served(process.pid, port, questions, params)
            for name, params in variants.items()
        }
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    figures["encoding"] = encoding_alone(questions)
    if not args.skip_onnx:
        figures["onnx_threads"] = onnx_threads(questions)
    figures["profile"] = profile_in_process(args.index, questions, {})
    default = figures["served"]["hybrid (default)"]["server_cpu_ms"]
    figures["ratio_to_encoding"] = round(default / figures["encoding"]["cpu_p50_ms"], 2)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
