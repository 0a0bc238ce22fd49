#!/usr/bin/env python
"""Print the latency of page 1 against the deepest page a query may ask for, over HTTP,
from a `semsearch serve` this script starts on 127.0.0.1 (and stops).

    .venv/bin/python scripts/bench_deep_pages.py --index DIR [--repeat 5] [--log FILE]
        [--query "the government said in a statement"] [--search-timeout-ms 0]

The deepest page is page 1000 with k=1 (page * k may reach 1000, `MAX_DEPTH`): it ranks,
de-duplicates and highlights a thousand hits to answer one. Each request is timed from the
client (wall) and by the server's CPU time (from /proc/<pid>/stat, steadier on a shared
machine). `--search-timeout-ms` sets the server's time budget (0: none, to see what a
deep page costs whole; by default the server's own, whose 503s are counted as such). The
figures go in docs/benchmarks.md ("Deep pages").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from semsearch.bench.load import free_port
from semsearch.bench.runner import stop_process
from semsearch.search.query import MAX_DEPTH

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if get(base + "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server was not ready after 180 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--query", default="the government said in a statement")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--log", type=Path, help="the server's output (default: a temp file)")
    parser.add_argument("--search-timeout-ms", help="the server's search_timeout_ms")
    args = parser.parse_args()
    log = args.log or Path(tempfile.mkstemp(prefix="bench-deep-pages-", suffix=".log")[1])
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        *(sys.executable, "-m", "semsearch", "serve", "--index", args.index),
        *("--host", "127.0.0.1", "--port", str(port)),
    ]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if args.search_timeout_ms is not None:
        environment["SEMSEARCH_SEARCH_TIMEOUT_MS"] = args.search_timeout_ms
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment)
    try:
        wait_ready(base, server, log)
        q = urllib.parse.quote_plus(args.query)
        cases = [("page 1, k=10", "k=10&page=1"), ("page 1, k=1", "k=1&page=1")]
        cases.append((f"page {MAX_DEPTH}, k=1 (deepest)", f"k=1&page={MAX_DEPTH}"))
        cases.append((f"page {MAX_DEPTH // 10}, k=10 (deepest)", f"k=10&page={MAX_DEPTH // 10}"))
        get(f"{base}/api/search?q={q}&k=10")  # warm: the first query pays for lazy set-up
        budget = args.search_timeout_ms or "the default"
        print(f"index: {args.index}; query: {args.query!r}; {args.repeat} runs each")
        print(f"search_timeout_ms: {budget}; load average: {os.getloadavg()[0]:.1f}")
        print(f"{'request':<28} {'status':>6} {'wall p50 ms':>12} {'server CPU ms':>14}")
        for label, params in cases:
            walls, cpus, status = [], [], 0
            for _ in range(args.repeat):
                cpu_before, started = cpu_seconds(server.pid), time.perf_counter()
                status, _ = get(f"{base}/api/search?q={q}&{params}")
                walls.append((time.perf_counter() - started) * 1000)
                cpus.append((cpu_seconds(server.pid) - cpu_before) * 1000)
            print(
                f"{label:<28} {status:>6} {statistics.median(walls):>12.1f} "
                f"{statistics.median(cpus):>14.0f}"
            )
    finally:
        stop_process(server, 10)


if __name__ == "__main__":
    main()
