#!/usr/bin/env python
"""Memory of one server serving one collection, two with different models, two sharing one.

    .venv/bin/python scripts/collections_memory.py [--work DIR] [--minilm DIR] [--e5 DIR]

Builds the 10 demo articles with the packaged MiniLM and with the packaged multilingual E5
(or takes indexes already built: --minilm, --e5), then for each arrangement starts
`semsearch serve` on loopback, waits until it is ready, runs 20 searches on every
collection, and prints the server's resident memory (VmRSS and VmHWM from /proc). The demo
indexes are tiny: the figures are the models' and the process's, per collection.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from semsearch.bench.load import free_port

DEMO = Path(__file__).parent / "demo" / "articles"
E5 = "packaged:multilingual-e5-small"


def semsearch(*args: str) -> list[str]:
    return [sys.executable, "-m", "semsearch", *args]


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (peak) of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def measure(label: str, indexes: list[str], work: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [item for index in indexes for item in ("--index", index)]
    log = (work / f"serve-{port}.log").open("wb")
    command = semsearch("serve", *args, "--host", "127.0.0.1", "--port", str(port))
    environment = {k: v for k, v in os.environ.items() if k != "SEMSEARCH_MODEL"}
    with subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment) as server:
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    time.sleep(0.5)
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{label}: the server did not start; see {log.name}")
            with urllib.request.urlopen(url + "/api/collections") as response:
                listed = json.load(response)["collections"]
            for collection in listed:
                for i in range(20):
                    query = urllib.parse.urlencode({"q": f"harbour tides bridge {i}", "k": 5})
                    path = f"/api/collections/{collection['name']}/search?{query}"
                    with urllib.request.urlopen(url + path) as response:
                        response.read()
            rss, peak = memory_mb(server.pid)
            models = ", ".join(f"{c['name']}: {c['index']['model']}" for c in listed)
            print(f"{label:<34} RSS {rss:7.1f} MiB  peak {peak:7.1f} MiB  ({models})")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--minilm", default=None, help="an index built with the default model")
    parser.add_argument("--e5", default=None, help=f"an index built with {E5}")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="semsearch-collections-"))
    work.mkdir(parents=True, exist_ok=True)
    minilm = args.minilm or str(work / "minilm")
    e5 = args.e5 or str(work / "e5")
    if not args.minilm:
        subprocess.run(semsearch("build", str(DEMO), "--out", minilm, "--quiet"), check=True)
    if not args.e5:
        subprocess.run(
            semsearch("build", str(DEMO), "--out", e5, "--model", E5, "--quiet"), check=True
        )
    measure("one collection (MiniLM)", [f"news={minilm}"], work)
    measure("one collection (E5)", [f"world={e5}"], work)
    measure("two collections, one model", [f"news={minilm}", f"copy={minilm}"], work)
    measure("two collections, two models", [f"news={minilm}", f"world={e5}"], work)
    print(f"machine: {os.cpu_count()} cores, shared with other jobs; {time.strftime('%Y-%m-%d')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
