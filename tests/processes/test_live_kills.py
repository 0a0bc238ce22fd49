"""A live index under SIGKILL: writers killed at random moments and just before a commit,
merges killed before and after their swap, readers killed while SQLite replays its log, and
two writer processes at once. After each, every acknowledged batch is there whole, no batch
is there in part, and every passage a search returns is in the store.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semsearch.index.live import open_reader, open_writer
from semsearch.index.live.merge import SEGMENTS_DIR, compact
from semsearch.index.storage.directory import resolve_index_dir
from tests.support.fake_embedder import HashingEmbedder
from tests.support.live_child import BATCH, SETTINGS

pytestmark = pytest.mark.process  # every test here starts child processes

ROOT = Path(__file__).resolve().parents[2]


def child(*args: str, crash_at: str | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop("SEMSEARCH_CRASH_AT", None)
    if crash_at:
        env["SEMSEARCH_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.live_child", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def first_ack(process: subprocess.Popen[str]) -> str:
    """Wait for the child's first acknowledged batch (start-up takes a while): its line."""
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("ack "), line
    return line


def acknowledged(output: str) -> set[int]:
    return {int(line.split()[1]) for line in output.splitlines() if line.startswith("ack ")}


def check_whole(index: Path, prefix: str, batches: int, acked: set[int]) -> set[int]:
    """Every acknowledged batch whole, no batch in part, searches point at stored passages;
    returns the batches present."""
    reader = open_reader(index, SETTINGS)
    present = set()
    try:
        for batch in range(batches):
            found = [
                reader.fetch_article(f"{prefix}-{batch}-{item}") is not None
                for item in range(BATCH)
            ]
            assert all(found) or not any(found), f"batch {batch} is half there: {found}"
            if all(found):
                present.add(batch)
        assert acked <= present, f"acknowledged but lost: {sorted(acked - present)}"
        hits = reader.keyword("harbour ferry", 10_000)
        assert len(hits) == reader.view().state.passages
        stored = reader.fetch_chunks(c for c, _ in hits)
        assert set(stored) == {c for c, _ in hits}
    finally:
        reader.close()
    return present


def test_acknowledged_writes_survive_sigkill_at_random_moments(tmp_path):
    index = tmp_path / "live"
    rng = random.Random(22)
    for trial in range(4):
        process = child("write", str(index), f"t{trial}", "200")
        first = first_ack(process)
        time.sleep(rng.uniform(0.0, 1.0))
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        acked = acknowledged(first + output)
        check_whole(index, f"t{trial}", 200, acked)
    # The index takes writes again after the kills.
    writer = open_writer(index, HashingEmbedder(dimension=32), SETTINGS)
    from tests.support.live_child import batch_articles

    assert {o.status for o in writer.upsert(batch_articles("after", 0)).outcomes} == {"created"}
    writer.close()


def test_a_write_killed_just_before_its_commit_is_absent(tmp_path):
    index = tmp_path / "live"
    done = child("write", str(index), "ok", "2")
    assert acknowledged(done.communicate(timeout=60)[0]) == {0, 1}
    killed = child("write", str(index), "cut", "1", crash_at="live-before-commit")
    output, _ = killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert acknowledged(output) == set()
    assert check_whole(index, "cut", 1, set()) == set()
    assert check_whole(index, "ok", 2, {0, 1}) == {0, 1}


@pytest.mark.parametrize("point", ["merge-written", "merge-before-swap"])
def test_sigkill_during_a_merge_leaves_the_index_serving(tmp_path, point):
    index = tmp_path / "live"
    writer = open_writer(index, HashingEmbedder(dimension=32), SETTINGS)
    writer._maybe_merge = lambda: None  # type: ignore[method-assign]  # merged by the child
    from tests.support.live_child import batch_articles

    for batch in range(3):
        writer.upsert(batch_articles("m", batch))
    writer.delete(["m-1-0"])
    merging = child("merge", str(index), crash_at=point)
    merging.communicate(timeout=60)
    assert merging.returncode == -signal.SIGKILL
    reader = open_reader(index, SETTINGS)
    assert len(reader.view().segments) == 3  # the inputs, still served
    assert reader.view().state.passages == 14
    reader.close()
    assert compact(index, SETTINGS) == 1
    folder = resolve_index_dir(index) / SEGMENTS_DIR
    assert [p.name for p in folder.iterdir() if p.name.endswith(".partial")] == []
    reader = open_reader(index, SETTINGS)
    assert len(reader.view().segments) == 1
    assert reader.view().state.passages == 14
    assert reader.fetch_article("m-1-0") is None
    assert len(reader.keyword("harbour ferry", 100)) == 14
    reader.close()
    writer.close()


def test_a_restart_killed_mid_replay_loses_nothing(tmp_path):
    index = tmp_path / "live"
    process = child("write", str(index), "r", "400")
    first = first_ack(process)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    acked = acknowledged(first + process.communicate(timeout=30)[0])
    # The writer never closed its store: its WAL holds the commits. Readers opened and
    # killed at once, again and again, each in the middle of opening it.
    rng = random.Random(7)
    for _ in range(5):
        opening = child("open", str(index))
        time.sleep(rng.uniform(0.0, 0.3))
        opening.send_signal(signal.SIGKILL)
        opening.communicate(timeout=30)
    check_whole(index, "r", 400, acked)


def test_two_writer_processes_at_once(tmp_path):
    index = tmp_path / "live"
    first = child("write", str(index), "p", "15")
    second = child("write", str(index), "q", "15")
    acked_p = acknowledged(first.communicate(timeout=120)[0])
    acked_q = acknowledged(second.communicate(timeout=120)[0])
    assert acked_p == set(range(15)) and acked_q == set(range(15))
    assert check_whole(index, "p", 15, acked_p) == acked_p
    assert check_whole(index, "q", 15, acked_q) == acked_q
