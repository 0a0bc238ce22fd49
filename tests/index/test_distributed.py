"""Embedding on a Dask cluster (index/build/distributed.py): order, equality with the
single-process embedder, one model load per worker, a worker killed mid-run, and every
service the cluster starts listening on loopback only (checked from /proc in each test).

Then the build on it: `semsearch build --engine dask` makes the index the single-process
build makes (chunks, offsets, vectors, manifest); a worker killed mid-build is retried, or,
with retries off, fails the build with a BuildError and leaves the served index as it was;
workers with another model than the client's refuse the build, a worker that joins while
the build runs too."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
import numpy as np
import psutil
import pytest
from distributed import Client

from semsearch.errors import BuildError
from semsearch.index.build.builder import build_index
from semsearch.index.build.distributed import (
    ListeningSocket,
    _decode_address,
    check_loopback_only,
    dask_pipeline,
    embed_on_client,
    embed_passages_distributed,
    listening_sockets,
    local_cluster,
    process_tree,
    worker_loads,
)
from semsearch.index.embed import load_embedder, register_embedder
from semsearch.index.storage.directory import resolve_index_dir, versions_dir
from semsearch.index.storage.manifest import read_manifest
from semsearch.index.storage.store import StoreReader
from semsearch.index.storage.vectors import read_vector_index, stored_vectors
from semsearch.settings import DEFAULT_MODEL
from tests.conftest import DATASETS, DEMO_ARTICLES, ROOT, need_shared
from tests.support.fake_embedder import HashingEmbedder

FAKE_SETUP = "tests.support.fake_embedder:register"
SLOW_SETUP = "tests.test_distributed:register_slow"
SLOW_SECONDS = 0.01  # per passage: long enough to kill a worker while it embeds

WORDS = [
    "harbour",
    "storm",
    "council",
    "budget",
    "vaccine",
    "river",
    "school",
    "election",
    "court",
    "market",
]


def make_texts(n: int) -> list[str]:
    """Distinct passages that share words, so their vectors differ in known ways."""
    return [
        f"{WORDS[i % 10]} {WORDS[(i * 7) % 10]} passage {i} about {WORDS[(i * 3) % 10]}"
        for i in range(n)
    ]


class SlowHashingEmbedder(HashingEmbedder):
    """The hashing fake, slowed down, so a worker can be killed in the middle of a task."""

    def __init__(self, dimension: int = 64) -> None:
        super().__init__(dimension)
        self.name = f"slowhash-{dimension}"  # what the workers load by

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        time.sleep(SLOW_SECONDS * len(texts))
        return super().encode_documents(texts)


def register_slow() -> None:
    """Let `load_embedder("slowhash-N")` return the slow fake (run on the workers)."""
    register_embedder(
        "slowhash", lambda name: SlowHashingEmbedder(dimension=int(name.partition("-")[2]))
    )


def assert_loopback(min_sockets: int) -> list[ListeningSocket]:
    """Every socket this process and its children listen on is on loopback, and there are
    at least `min_sockets` of them (so the check saw the cluster)."""
    sockets = check_loopback_only(process_tree())
    assert len(sockets) >= min_sockets, sockets
    assert all(s.address in ("127.0.0.1", "::1") for s in sockets), sockets
    return sockets


@pytest.fixture
def cluster_client() -> Iterator[Client]:
    with local_cluster(workers=2) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        # The scheduler, and a worker and a nanny for each of the two workers.
        sockets = assert_loopback(min_sockets=5)
        scheduler_port = int(cluster.scheduler_address.rsplit(":", 1)[1])
        assert scheduler_port in {s.port for s in sockets}
        yield client


def test_decode_proc_addresses() -> None:
    assert _decode_address("0100007F") == "127.0.0.1"
    assert _decode_address("00000000") == "0.0.0.0"
    assert _decode_address("00000000000000000000000001000000") == "::1"
    mapped = ipaddress.ip_address(_decode_address("0000000000000000FFFF00000100007F"))
    assert mapped == ipaddress.ip_address("::ffff:127.0.0.1")
    assert ListeningSocket(1, "::ffff:127.0.0.1", 80).loopback
    assert not ListeningSocket(1, "0.0.0.0", 80).loopback
    assert not ListeningSocket(1, "::", 80).loopback
    assert not ListeningSocket(1, "10.1.2.3", 80).loopback


def test_listening_sockets_finds_a_loopback_listener() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        found = listening_sockets([os.getpid()])
        assert ListeningSocket(os.getpid(), "127.0.0.1", port) in found
    assert port not in {s.port for s in listening_sockets([os.getpid()])}


@pytest.mark.process
def test_embeds_in_order_with_one_model_load_per_worker(cluster_client: Client) -> None:
    texts = make_texts(300)
    vectors = embed_on_client(cluster_client, texts, "hashing-32", setup=FAKE_SETUP, chunk_size=16)
    expected = HashingEmbedder(dimension=32).encode_documents(texts)
    assert vectors.dtype == np.float32
    assert np.array_equal(vectors, expected)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    loads = cluster_client.run(worker_loads)
    # 19 tasks over two workers, and each worker loaded the model once, in the plugin.
    assert len(loads) == 2
    assert all(per_worker == {"hashing-32": 1} for per_worker in loads.values()), loads
    assert_loopback(min_sockets=5)


@pytest.mark.process
def test_embeds_on_a_cluster_given_by_address() -> None:
    texts = make_texts(50)
    with local_cluster(workers=1) as cluster:
        vectors = embed_passages_distributed(
            texts, "hashing-16", address=cluster.scheduler_address, setup=FAKE_SETUP
        )
        assert_loopback(min_sockets=3)
    assert np.array_equal(vectors, HashingEmbedder(dimension=16).encode_documents(texts))
    assert embed_passages_distributed(
        [], "hashing-16", address=None, workers=1, setup=FAKE_SETUP
    ).shape == (0, 16)


def process_alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting for its parent to reap it does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_a_busy_worker(client: Client) -> int:
    """SIGKILL a worker process while the scheduler has tasks running on it; its pid."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [address for address, keys in client.processing().items() if keys]
        if busy:
            time.sleep(0.3)  # into the middle of a task
            pid = int(pids[busy[0]])
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.05)
    raise AssertionError("no worker ever got a task")


@pytest.mark.process
def test_a_killed_worker_is_retried_on_another(cluster_client: Client) -> None:
    texts = make_texts(200)
    killed: list[int] = []
    vectors = embed_on_client(
        cluster_client,
        texts,
        "slowhash-32",
        setup=SLOW_SETUP,
        chunk_size=20,
        on_submitted=lambda: killed.append(kill_a_busy_worker(cluster_client)),
    )
    assert len(killed) == 1 and not process_alive(killed[0])
    assert np.array_equal(vectors, HashingEmbedder(dimension=32).encode_documents(texts))
    # The nanny restarted the worker: two again, none of them the killed process.
    cluster_client.wait_for_workers(2)
    assert killed[0] not in cluster_client.run(os.getpid).values()
    assert_loopback(min_sockets=5)


@pytest.mark.process
def test_a_killed_worker_fails_the_call_cleanly_when_retries_are_off() -> None:
    # No retries: the scheduler reads its config as it starts, so set it first.
    retries_off = dask.config.set({"distributed.scheduler.allowed-failures": 0})
    with retries_off, local_cluster(workers=2) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        assert_loopback(min_sockets=5)
        with pytest.raises(BuildError, match="embedding stopped"):
            embed_on_client(
                client,
                make_texts(200),
                "slowhash-32",
                setup=SLOW_SETUP,
                chunk_size=20,
                on_submitted=lambda: kill_a_busy_worker(client),
            )


@pytest.mark.slow
@pytest.mark.process
def test_real_model_vectors_match_the_single_process_embedder() -> None:
    real_embedder = load_embedder(DEFAULT_MODEL, backend="onnx-int8")
    corpus = need_shared(DATASETS / "scifact" / "corpus.jsonl")
    with corpus.open(encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for _, line in zip(range(120), handle, strict=False)]
    expected = real_embedder.encode_documents(texts)
    with local_cluster(workers=2) as cluster, Client(cluster) as client:
        vectors = embed_on_client(
            client, texts, real_embedder.name, backend=real_embedder.backend, chunk_size=32
        )
        assert_loopback(min_sockets=5)
    assert vectors.dtype == np.float32 and vectors.shape == expected.shape
    cosines = np.sum(vectors * expected, axis=1)
    assert float(cosines.min()) >= 0.9999
    assert float(np.abs(vectors - expected).max()) <= 1e-4


# --- the build on a cluster ------------------------------------------------------------------

OTHER_SETUP = "tests.test_distributed:register_other_revision"


def register_other_revision() -> None:
    """Let `hashing-N` load a fake of another revision (a worker with other model files)."""

    def load(name: str) -> HashingEmbedder:
        embedder = HashingEmbedder(dimension=int(name.partition("-")[2]))
        embedder.revision = "2"
        return embedder

    register_embedder("hashing", load)


def write_markdown_articles(folder: Path, count: int) -> Path:
    """`count` Markdown articles of four paragraphs each: several passages per article."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        paragraphs = [
            " ".join(
                f"The {WORDS[(n + p + w) % 10]} report {n} said the {WORDS[(n * p + w) % 10]} "
                f"rose by {w + p} points."
                for w in range(6)
            )
            for p in range(4)
        ]
        (folder / f"{n:03d}.md").write_text(
            f"# Article {n} on the {WORDS[n % 10]}\n\n" + "\n\n".join(paragraphs) + "\n",
            encoding="utf-8",
        )
    return folder


def index_contents(out: Path) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """Every stored chunk (id, article, ordinal, offsets, text) and their vectors, in id order."""
    reader = StoreReader(resolve_index_dir(out) / "store.sqlite")
    db = reader.connect()
    try:
        chunks = [
            (c.chunk_id, c.article["id"], c.ordinal, c.start, c.end, c.text)
            for c in reader.iter_chunks(db)
        ]
    finally:
        db.close()
    index = read_vector_index(resolve_index_dir(out) / "vectors.faiss")
    vectors = stored_vectors(index, [chunk[0] for chunk in chunks])
    assert vectors is not None
    return chunks, vectors


def comparable_manifest(out: Path) -> dict[str, Any]:
    """The manifest less what differs between any two builds of the same input: times, the
    version name, the BM25 files' checksums (bm25s writes its vocabulary in set order), and
    the record of where the passages were embedded."""
    record = dict(read_manifest(resolve_index_dir(out)).__dict__)
    for key in ("built_at", "build_seconds", "version"):
        record.pop(key)
    record["files"] = {
        name: info if not name.startswith("keyword") else {"bytes": info["bytes"]}
        for name, info in record["files"].items()
    }
    record["vectors"] = {k: v for k, v in record["vectors"].items() if k != "embedded_by"}
    return record


def assert_same_index(built: Path, reference: Path) -> None:
    chunks, vectors = index_contents(built)
    expected_chunks, expected_vectors = index_contents(reference)
    assert chunks == expected_chunks and len(chunks) > 0
    assert np.allclose(vectors, expected_vectors, atol=1e-6)
    assert comparable_manifest(built) == comparable_manifest(reference)


def run_cli_watching_listeners(
    args: list[str], log: Path
) -> tuple[int, str, list[ListeningSocket]]:
    """Run `python -m tests.support.cli ARGS` and, while it runs, read /proc for the sockets
    it and its children listen on; returns (exit code, output, the most seen at once)."""
    with log.open("w") as output:
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.support.cli", *args],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        most: list[ListeningSocket] = []
        while child.poll() is None:
            try:
                now = listening_sockets(process_tree(child.pid))
            except psutil.Error:  # it ended between the two reads
                now = []
            assert all(s.loopback for s in now), now
            if len(now) > len(most):
                most = now
            time.sleep(0.05)
    return child.returncode, log.read_text(), most


@pytest.mark.process
def test_cli_build_on_dask_equals_the_single_process_build(tmp_path: Path) -> None:
    common = ["build", str(DEMO_ARTICLES), "--model", "hashing-64", "--quiet", "--no-tune"]
    local = tmp_path / "local"
    code, output, _ = run_cli_watching_listeners([*common, "--out", str(local)], tmp_path / "a")
    assert code == 0, output
    on_dask = tmp_path / "dask"
    code, output, sockets = run_cli_watching_listeners(
        [
            *common,
            "--out",
            str(on_dask),
            "--engine",
            "dask",
            "--workers",
            "2",
            "--worker-setup",
            "tests.support.fake_embedder:register",
        ],
        tmp_path / "b",
    )
    assert code == 0, output
    # The scheduler and its HTTP server, and a nanny and a worker for each of the two: all on
    # loopback (asserted at every read), seen while the build ran.
    assert len(sockets) >= 5, sockets
    assert_same_index(on_dask, local)
    embedded_by = read_manifest(resolve_index_dir(on_dask)).vectors["embedded_by"]
    assert embedded_by["engine"] == "dask" and embedded_by["workers"] == 2
    assert "embedded_by" not in (read_manifest(resolve_index_dir(local)).vectors or {})


@pytest.mark.process
def test_a_build_on_a_cluster_given_by_address_reuses_vectors(
    cluster_client: Client, tmp_path: Path
) -> None:
    articles = write_markdown_articles(tmp_path / "articles", 12)
    embedder = HashingEmbedder(dimension=32)
    local, on_dask = tmp_path / "local", tmp_path / "dask"
    build_index([articles], local, embedder)
    on_cluster = dask_pipeline(cluster_client.scheduler.address, setup=FAKE_SETUP)
    report = build_index([articles], on_dask, embedder, pipeline_factory=on_cluster)
    assert report.chunks > 64  # more than one group, so several tasks
    assert_same_index(on_dask, local)
    assert read_manifest(resolve_index_dir(on_dask)).vectors["embedded_by"]["address"] == (
        cluster_client.scheduler.address
    )
    # A rebuild takes the unchanged passages' vectors from the version it replaces.
    again = build_index([articles], on_dask, embedder, pipeline_factory=on_cluster)
    assert again.reused == again.chunks
    assert_same_index(on_dask, local)
    assert all(loads == {"hashing-32": 1} for loads in cluster_client.run(worker_loads).values())
    assert_loopback(min_sockets=5)


@contextmanager
def killing_a_busy_worker(client: Client) -> Iterator[list[int]]:
    """While the block runs (a build), SIGKILL a worker in the middle of a task, from a
    thread; yields the list the killed pid is put in."""
    killed: list[int] = []
    thread = threading.Thread(target=lambda: killed.append(kill_a_busy_worker(client)))
    thread.start()
    try:
        yield killed
    finally:
        thread.join(timeout=60)


@pytest.mark.process
def test_a_worker_killed_mid_build_is_retried(
    cluster_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    articles = write_markdown_articles(tmp_path / "articles", 30)
    register_slow()
    on_dask = tmp_path / "dask"
    with killing_a_busy_worker(cluster_client) as killed:
        build_index(
            [articles],
            on_dask,
            SlowHashingEmbedder(dimension=32),
            pipeline_factory=dask_pipeline(cluster_client.scheduler.address, setup=SLOW_SETUP),
        )
    assert len(killed) == 1 and not process_alive(killed[0])
    monkeypatch.setitem(globals(), "SLOW_SECONDS", 0.0)  # the same fake, unhurried, here
    local = tmp_path / "local"
    build_index([articles], local, SlowHashingEmbedder(dimension=32))
    assert_same_index(on_dask, local)
    assert_loopback(min_sockets=3)


@pytest.mark.process
def test_a_worker_killed_mid_build_fails_it_and_leaves_the_served_index(tmp_path: Path) -> None:
    articles = write_markdown_articles(tmp_path / "articles", 30)
    register_slow()
    out = tmp_path / "index"
    build_index(
        [write_markdown_articles(tmp_path / "old", 3)], out, SlowHashingEmbedder(dimension=32)
    )
    served = resolve_index_dir(out)
    manifest = (served / "manifest.json").read_text()
    versions = sorted(p.name for p in versions_dir(out).iterdir())
    retries_off = dask.config.set({"distributed.scheduler.allowed-failures": 0})
    with retries_off, local_cluster(workers=2) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        assert_loopback(min_sockets=5)
        with killing_a_busy_worker(client) as killed, pytest.raises(BuildError, match="stopped"):
            build_index(
                [articles],
                out,
                SlowHashingEmbedder(dimension=32),
                pipeline_factory=dask_pipeline(cluster.scheduler_address, setup=SLOW_SETUP),
            )
        assert len(killed) == 1
    # The old version is still the one served, whole; the failed build left nothing behind.
    assert resolve_index_dir(out) == served
    assert (served / "manifest.json").read_text() == manifest
    assert sorted(p.name for p in versions_dir(out).iterdir()) == versions
    chunks, _ = index_contents(out)
    assert {chunk[1] for chunk in chunks} == {"000", "001", "002"}


@pytest.mark.process
def test_workers_with_another_model_refuse_the_build(
    cluster_client: Client, tmp_path: Path
) -> None:
    out = tmp_path / "index"
    with pytest.raises(BuildError, match=r"loaded another model.*revision"):
        build_index(
            [DEMO_ARTICLES],
            out,
            HashingEmbedder(dimension=32),
            pipeline_factory=dask_pipeline(cluster_client.scheduler.address, setup=OTHER_SETUP),
        )
    assert not out.exists()
    assert_loopback(min_sockets=5)


LATE_SETUP = "tests.test_distributed:register_slow_of_environment_revision"
REVISION_VARIABLE = "SEMSEARCH_TEST_FAKE_REVISION"


def register_slow_of_environment_revision() -> None:
    """`register_slow`, the fake's revision read from $SEMSEARCH_TEST_FAKE_REVISION ("1",
    the client's, when unset): a worker started with it set has other model files."""
    revision = os.environ.get(REVISION_VARIABLE, "1")

    def load(name: str) -> SlowHashingEmbedder:
        embedder = SlowHashingEmbedder(dimension=int(name.partition("-")[2]))
        embedder.revision = revision
        return embedder

    register_embedder("slowhash", load)


def add_worker(cluster: Any, env: dict[str, str]) -> None:
    """Start one more worker (and nanny) in a LocalCluster, with these environment variables."""
    spec = {
        name: {**entry, "options": {**entry["options"], "env": env}}  # new_spec stays as it is
        for name, entry in cluster.new_worker_spec().items()
    }
    cluster.worker_spec.update(spec)
    cluster.scale(len(cluster.worker_spec))


@pytest.mark.process
def test_a_worker_with_another_model_joining_mid_build_fails_it(tmp_path: Path) -> None:
    articles = write_markdown_articles(tmp_path / "articles", 30)
    out = tmp_path / "index"
    with local_cluster(workers=1) as cluster, Client(cluster) as client:
        client.wait_for_workers(1)
        first = set(client.scheduler_info()["workers"])
        on_cluster = dask_pipeline(cluster.scheduler_address, setup=LATE_SETUP)
        late: list[str] = []

        def start_then_add_a_worker(*args: Any) -> Any:
            pipeline = on_cluster(*args)  # the one worker there passed the check
            add_worker(cluster, {REVISION_VARIABLE: "2"})
            client.wait_for_workers(2, timeout=60)
            late.extend(set(client.scheduler_info()["workers"]) - first)
            return pipeline

        with pytest.raises(BuildError, match=r"embedding stopped.*another model") as refused:
            build_index(
                [articles],
                out,
                SlowHashingEmbedder(dimension=32),
                pipeline_factory=start_then_add_a_worker,
            )
        message = str(refused.value)
        assert len(late) == 1 and f"worker {late[0]} " in message  # the late one refused
        assert message.split(" differ ")[0].endswith(": revision"), message  # only that
        assert_loopback(min_sockets=5)
    assert not out.exists()


def test_cluster_options_need_the_dask_engine(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from semsearch.cli import cli

    runner = CliRunner()
    common = ["build", str(DEMO_ARTICLES), "--out", str(tmp_path / "i"), "--model", "hashing-8"]
    result = runner.invoke(cli, [*common, "--address", "tcp://127.0.0.1:1"])
    assert result.exit_code == 2 and "need --engine dask" in result.output
    result = runner.invoke(
        cli, [*common, "--engine", "dask", "--address", "tcp://127.0.0.1:1", "--workers", "2"]
    )
    assert result.exit_code == 2 and "--workers sizes the cluster" in result.output
    assert not (tmp_path / "i").exists()
