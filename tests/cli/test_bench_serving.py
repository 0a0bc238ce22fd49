"""The serving benchmark (scripts/bench_serving.py), run small: every stage, every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_ARTICLES

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.process, pytest.mark.slow]


def test_a_small_serving_bench_measures_both_backends(tmp_path: Path) -> None:
    """The demo articles grown to 1,500 passages: the directory built, published into Milvus
    Lite on a unix socket, both backends timed in-process and over HTTP on loopback, memory
    and sizes reported; a second run reuses the build and the publish."""
    out = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "scripts" / "bench_serving.py"), "--passages", "1500"]
    command += ["--work", str(tmp_path / "work"), "--corpus", str(DEMO_ARTICLES)]
    command += ["--articles", "10", "--queries", "titles", "--query-count", "8"]
    command += ["--clients", "1", "2", "--http-modes", "hybrid", "--http-seconds", "1"]
    command += ["--http-requests", "20", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    figures = json.loads(out.read_text())
    assert figures["build"]["scaled"]["synthesised"] > 1000
    assert figures["directory"]["chunks"] >= 1200
    assert figures["publish"]["ms_per_passage"] > 0
    for name in ("directory", "engine"):
        for mode in ("dense", "keyword", "hybrid"):
            assert figures["in_process"][name][mode]["p50_ms"] > 0
        server = figures["http"][name]
        for clients in ("1", "2"):
            load = server[f"hybrid/{clients}"]
            assert load["failed"] == 0 and load["requests"] > 0, load
        assert server["memory_mb"]["VmRSS"] > 50
        # Every listener on loopback (the check raises otherwise), and some listener seen.
        assert server["listeners"] and all("127.0.0.1" in s for s in server["listeners"])
    assert figures["engine"]["listeners"] == []  # a unix socket only, no TCP port
    assert figures["engine"]["memory_mb_at_end"]["VmRSS"] > 10
    # Exact on both sides at this size: the same passages, ties apart.
    assert figures["dense_recall_at_10"] == {"directory": 1.0, "engine": 1.0}
    assert figures["agreement"]["keyword"]["same_scores"] == 1.0
    assert "| engine | hybrid |" in done.stdout

    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads(out.read_text())
    assert rerun["build"]["reused"] and rerun["publish"]["reused"]
