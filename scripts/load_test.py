#!/usr/bin/env python
"""Load a real server while its index is swapped twice; print p50/p99 and every failure.

    .venv/bin/python scripts/load_test.py [--clients 8] [--seconds 60] [--model MODEL]

It builds an index of 8 of the 10 demo articles, serves it with `semsearch serve` in its own
process, and runs `--clients` keep-alive clients on loopback (semsearch/load.py) for
`--seconds`. Meanwhile `semsearch add` adds the other two articles, and from half-time
`semsearch delete` removes them again: two new versions, each picked up by the server while
it answers (the load goes on past `--seconds` until both are served). Exit status 1 if any
request failed. With the real model (the default) each writer runs its own model process
beside the server, so on 2 cores it shows the latency cost of updating while serving, too.

    .venv/bin/python scripts/load_test.py --alias-moves 40 [--clients 8] [--seconds 20]

instead serves a folder of two indexes (8 and 10 demo articles) as collections and moves
the alias `demo` between them `--alias-moves` times (`POST /api/aliases`, spread over
`--seconds`) while the clients search `/api/collections/demo/search`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from semsearch.bench.load import free_port, run_load

DEMO = Path(__file__).parent / "demo"
LATE = ["09_greyhaven_tidal_array.md", "10_ashcombe_tram_strike.md"]


def semsearch(*args: str) -> list[str]:
    return [sys.executable, "-m", "semsearch", *args]


def demo_queries() -> list[str]:
    text = (DEMO / "QUESTIONS.md").read_text(encoding="utf-8")
    return re.findall(r"^\d+\. (.+?) -> `", text, flags=re.MULTILINE)


def wait_ready(url: str, server: subprocess.Popen[bytes], limit: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if server.poll() is not None:
            raise SystemExit("the server exited before it was ready")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server was not ready after {limit}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--model", default=None, help="default: the packaged MiniLM")
    parser.add_argument(
        "--alias-moves", type=int, default=0, help="move an alias this often instead"
    )
    args = parser.parse_args()
    if args.alias_moves:
        return alias_load(args)
    model = ["--model", args.model] if args.model else []
    work = Path(tempfile.mkdtemp(prefix="semsearch-load-"))
    try:
        first, late = work / "articles", work / "late"
        first.mkdir()
        late.mkdir()
        for article in sorted((DEMO / "articles").glob("*.md")):
            shutil.copy(article, (late if article.name in LATE else first) / article.name)
        index = work / "index"
        subprocess.run(
            semsearch("build", str(first), "--out", str(index), "--quiet", *model), check=True
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = (work / "serve.log").open("wb")
        command = semsearch("serve", "--index", str(index), "--port", str(port), *model)
        with subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT) as server:
            print(f"server ready in {wait_ready(url, server):.1f}s")
            swaps: list[str] = []

            def swap() -> None:
                # Each writer loads its own model first (seconds on a busy machine), so the
                # add starts at once and the delete at mid-time or when the add is done.
                subprocess.run(
                    semsearch("add", str(late), "--index", str(index), "--quiet", *model),
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                swaps.append(f"add published at {time.monotonic() - began:.1f}s")
                time.sleep(max(0.0, began + args.seconds / 2 - time.monotonic()))
                subprocess.run(
                    semsearch(
                        "delete", *(Path(n).stem for n in LATE), "--index", str(index), *model
                    ),
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                swaps.append(f"delete published at {time.monotonic() - began:.1f}s")
                time.sleep(3)  # long enough for the server to pick the last version up

            began = time.monotonic()
            swapper = threading.Thread(target=swap)
            swapper.start()
            report = run_load(
                url, demo_queries(), args.clients, args.seconds, keep_going=swapper.is_alive
            )
            swapper.join()
            with urllib.request.urlopen(url + "/readyz") as response:
                ready = json.load(response)
            server.send_signal(signal.SIGTERM)
        print(f"swaps: {', '.join(swaps)}; serving {ready['index']['version']} at the end")
        print(report.summary())
        for failure in report.failures[:20]:
            print("  failed:", failure)
        print(f"machine: {os.cpu_count()} cores; {sys.platform}")
        return 1 if report.failures or len(report.versions) < 3 else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def alias_load(args: argparse.Namespace) -> int:
    """The alias `demo` moved between two collections while the clients search through it."""
    model = ["--model", args.model] if args.model else []
    key = "load-test-admin-key"
    work = Path(tempfile.mkdtemp(prefix="semsearch-alias-load-"))
    try:
        first = work / "articles"
        first.mkdir()
        for article in sorted((DEMO / "articles").glob("*.md")):
            if article.name not in LATE:
                shutil.copy(article, first / article.name)
        indexes = work / "indexes"
        for name, source in (("demo-a", first), ("demo-b", DEMO / "articles")):
            out = str(indexes / name)
            subprocess.run(
                semsearch("build", str(source), "--out", out, "--quiet", *model), check=True
            )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = (work / "serve.log").open("wb")
        command = semsearch("serve", "--indexes", str(indexes), "--port", str(port), *model)
        environment = {**os.environ, "SEMSEARCH_ADMIN_KEY": key}

        def move(target: str) -> None:
            request = urllib.request.Request(
                url + "/api/aliases",
                data=json.dumps({"name": "demo", "target": target}).encode(),
                method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200

        with subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=environment
        ) as server:
            print(f"server ready in {wait_ready(url, server):.1f}s")
            move("demo-a")
            moved: list[float] = []

            def mover() -> None:
                pause = args.seconds / (args.alias_moves + 1)
                for i in range(args.alias_moves):
                    time.sleep(pause)
                    started = time.perf_counter()
                    move("demo-b" if i % 2 == 0 else "demo-a")
                    moved.append((time.perf_counter() - started) * 1000)

            thread = threading.Thread(target=mover)
            thread.start()
            report = run_load(
                url,
                demo_queries(),
                args.clients,
                args.seconds,
                keep_going=thread.is_alive,
                path="/api/collections/demo/search",
            )
            thread.join()
            server.send_signal(signal.SIGTERM)
        moved.sort()
        print(
            f"alias moves: {len(moved)}, each answered in {moved[len(moved) // 2]:.1f} ms "
            f"(median), {moved[-1]:.1f} ms at most"
        )
        print(f"index versions that answered: {len(report.versions)} (two collections)")
        print(report.summary())
        for failure in report.failures[:20]:
            print("  failed:", failure)
        print(f"machine: {os.cpu_count()} cores; {sys.platform}")
        return 1 if report.failures or len(report.versions) < 2 else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
