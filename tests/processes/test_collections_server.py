"""One `semsearch serve` process with two collections built with different models, and an
alias moved between them while clients search through it: no request fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from semsearch.bench.load import free_port, run_load
from semsearch.index.build.builder import build_index
from tests.conftest import FAKE_MIN_SCORE
from tests.support.corpus import write_jsonl
from tests.support.fake_embedder import HashingEmbedder
from tests.support.servers import semsearch

pytestmark = pytest.mark.process

KEY = "alias-admin-key"


def post_alias(url: str, name: str, target: str) -> int:
    request = urllib.request.Request(
        url + "/api/aliases",
        data=json.dumps({"name": name, "target": target}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def test_an_alias_moves_under_load_without_a_failed_request(
    tmp_path: Path, demo_index: Path
) -> None:
    records = [
        {"id": "s1", "title": "Tidal mills", "text": "Tidal mills ground grain with the tide."},
        {"id": "s2", "title": "Bridges", "text": "The swing bridge opened for the tall ship."},
    ]
    write_jsonl(tmp_path / "small.jsonl", records)
    small = tmp_path / "small"
    build_index([tmp_path / "small.jsonl"], small, HashingEmbedder(dimension=128))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = semsearch(
        "serve",
        "--index",
        f"demo={demo_index}",
        "--index",
        f"small={small}",
        "--aliases",
        str(tmp_path / "aliases.json"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    )
    environment = {
        **os.environ,
        "SEMSEARCH_MIN_SCORE": str(FAKE_MIN_SCORE),
        "SEMSEARCH_ADMIN_KEY": KEY,
    }
    environment.pop("SEMSEARCH_MODEL", None)  # each collection with the model that built it
    log_path = tmp_path / "serve.log"
    with (
        log_path.open("wb") as log,
        subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment) as server,
    ):
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            with urllib.request.urlopen(url + "/api/collections", timeout=5) as response:
                listed = json.load(response)
            models = {c["name"]: c["index"]["model"] for c in listed["collections"]}
            assert models == {"demo": "hashing-256", "small": "hashing-128"}
            assert post_alias(url, "live", "demo") == 200
            moves: list[int] = []
            done = threading.Event()

            def move() -> None:
                for i in range(30):
                    moves.append(post_alias(url, "live", "small" if i % 2 == 0 else "demo"))
                    time.sleep(0.05)
                done.set()

            mover = threading.Thread(target=move)
            mover.start()
            queries = ["tidal power", "swing bridge", "tram strike", "sourdough starter"]
            report = run_load(
                url,
                queries,
                clients=4,
                seconds=1.0,
                keep_going=lambda: not done.is_set(),
                path="/api/collections/live/search",
            )
            mover.join(timeout=60)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    assert moves == [200] * 30
    assert report.failures == []
    assert len(report.versions) == 2  # both collections answered through the alias
    assert len(report.latencies_ms) > 30
