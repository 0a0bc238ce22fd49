"""Embedding on a Dask cluster (index/build/distributed.py): order, equality with the
single-process embedder, one model load per worker, a worker killed mid-run, and every
service the cluster starts listening on loopback only (checked from /proc in each test)."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import time
from collections.abc import Iterator

import dask
import numpy as np
import psutil
import pytest
from distributed import Client

from semsearch.errors import BuildError
from semsearch.index.build.distributed import (
    ListeningSocket,
    _decode_address,
    check_loopback_only,
    embed_on_client,
    embed_passages_distributed,
    listening_sockets,
    local_cluster,
    process_tree,
    worker_loads,
)
from semsearch.index.embed import load_embedder, register_embedder
from semsearch.settings import DEFAULT_MODEL
from tests.conftest import DATASETS, need_shared
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
