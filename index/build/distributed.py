"""Embedding passages on a Dask distributed cluster: groundwork for `semsearch build` past one
machine, not yet wired into the build.

`embed_passages_distributed` cuts a list of passage texts into chunks, embeds each chunk on a
worker of a Dask cluster (one given by its scheduler address, or a `LocalCluster` it starts
bound to 127.0.0.1), and returns the vectors in input order: float32, L2-normalised, the same
as the single-process embedder's (onnx-int8 embeds one text per call, so a passage's vector
does not depend on its chunk). Each worker process loads the model once: `EmbedderPlugin`
runs on every worker as it joins (again on one the nanny restarts), calls an optional setup
function given by import path (a cluster's workers do not share the client's registrations,
so a test fake or a custom embedder registers itself there), and loads the model into a
per-process cache keyed by model name and backend that every task reads.

A worker that dies mid-run has its tasks moved to the others by the scheduler; a task whose
workers died `distributed.scheduler.allowed-failures` times (3 by default) fails the call
with a `BuildError`, and nothing is returned. `listening_sockets` reads /proc for the TCP
sockets a set of processes listen on, so tests and benchmarks can prove every one is on
loopback.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from semsearch.errors import BuildError
from semsearch.index.embed import Embedder, load_embedder
from semsearch.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from distributed import Client, LocalCluster, Worker

log = logging.getLogger(__name__)

#: Passages per task: big enough that scheduling (about 1 ms a task) is noise next to
#: embedding (about 20 ms a passage on onnx-int8), small enough that a dead worker loses little.
CHUNK_SIZE = 64
LOOPBACK_HOST = "127.0.0.1"
PLUGIN_NAME = "semsearch-embedder"

# The worker side: one embedder per (model, backend) in each worker process, and how many
# times each was loaded there (tests check it is once).
_EMBEDDERS: dict[tuple[str, str | None], Embedder] = {}
_LOADS: dict[str, int] = {}
_LOCK = threading.Lock()


def call_import_path(path: str) -> None:
    """Import `module:function` and call the function with no arguments."""
    module_name, _, function_name = path.partition(":")
    if not module_name or not function_name:
        raise BuildError(f"setup {path!r} is not of the form 'package.module:function'")
    function = getattr(importlib.import_module(module_name), function_name)
    function()


def worker_embedder(model: str, backend: str | None = None) -> Embedder:
    """The embedder of this process for a model, loaded on first use and kept."""
    key = (model, backend)
    with _LOCK:
        embedder = _EMBEDDERS.get(key)
        if embedder is None:
            embedder = load_embedder(model, backend=backend)
            _EMBEDDERS[key] = embedder
            _LOADS[model] = _LOADS.get(model, 0) + 1
            log.info("worker %d loaded %s", os.getpid(), model)
        return embedder


def worker_loads() -> dict[str, int]:
    """How many times this process loaded each model (run on workers by the tests)."""
    with _LOCK:
        return dict(_LOADS)


def embed_chunk(texts: list[str], model: str, backend: str | None = None) -> np.ndarray:
    """Vectors of one chunk of passages, on the worker's own embedder."""
    vectors = worker_embedder(model, backend).encode_documents(texts)
    return np.asarray(vectors, dtype=np.float32)


class EmbedderPlugin(WorkerPlugin):
    """Runs on every worker as it starts (a restarted one too): the optional setup
    function, then the model load."""

    name = PLUGIN_NAME
    idempotent = False

    def __init__(self, model: str, backend: str | None = None, setup: str | None = None):
        self.model = model
        self.backend = backend
        self.setup_path = setup

    def setup(self, worker: Worker) -> None:
        """Register what the model name needs, then load the model into this process."""
        if self.setup_path:
            call_import_path(self.setup_path)
        worker_embedder(self.model, self.backend)


@contextmanager
def local_cluster(workers: int = 2, threads_per_worker: int = 1) -> Iterator[LocalCluster]:
    """A Dask `LocalCluster` of worker processes with every service on 127.0.0.1 and no
    dashboard (its default, ":8787", binds every interface). The scheduler still serves
    /health and /metrics over HTTP, on the scheduler's host: 127.0.0.1, port 8787 or, when
    that is taken, another one."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host=LOOPBACK_HOST,
        dashboard_address=None,
        worker_dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    try:
        yield cluster
    finally:
        cluster.close()


@contextmanager
def cluster_client(address: str | None = None, workers: int = 2) -> Iterator[Client]:
    """A client of the cluster at `address`, or of a loopback `LocalCluster` of `workers`
    worker processes started (and stopped) for the duration."""
    from distributed import Client

    if address is not None:
        with Client(address) as client:
            yield client
        return
    with local_cluster(workers) as cluster, Client(cluster) as client:
        yield client


def embed_on_client(
    client: Client,
    texts: Sequence[str],
    model: str = DEFAULT_MODEL,
    *,
    backend: str | None = None,
    setup: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    on_submitted: Callable[[], None] | None = None,
) -> np.ndarray:
    """Vectors of `texts`, in their order, embedded on the workers of `client`'s cluster;
    `on_submitted` is called once every chunk is queued (a test kills a worker there)."""
    from distributed import KilledWorker

    client.register_plugin(EmbedderPlugin(model, backend, setup), name=PLUGIN_NAME)
    dimension = int(client.submit(_dimension, model, backend, pure=False).result())
    if not texts:
        return np.zeros((0, dimension), dtype=np.float32)
    size = max(1, int(chunk_size))
    chunks = [list(texts[start : start + size]) for start in range(0, len(texts), size)]
    futures = client.map(embed_chunk, chunks, model=model, backend=backend, pure=False)
    if on_submitted is not None:
        on_submitted()
    try:
        parts = client.gather(futures)
    except KilledWorker as exc:
        raise BuildError(
            f"embedding stopped: {exc}. Workers kept dying on the same passages (out of "
            "memory?); see the workers' logs. Nothing was written."
        ) from exc
    finally:
        client.cancel(futures)
    vectors = np.concatenate([np.asarray(part, dtype=np.float32) for part in parts])
    if vectors.shape != (len(texts), dimension):
        raise BuildError(f"the workers returned {vectors.shape} vectors for {len(texts)} passages")
    # Not normalised again here: a second pass moves the last bit and breaks exact equality
    # with the single-process embedder, whose rows are unit length already.
    return vectors


def _dimension(model: str, backend: str | None) -> int:
    return int(worker_embedder(model, backend).dimension)


def embed_passages_distributed(
    texts: Sequence[str],
    model: str = DEFAULT_MODEL,
    *,
    address: str | None = None,
    workers: int = 2,
    backend: str | None = None,
    setup: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> np.ndarray:
    """Vectors of `texts` (float32, unit length, input order) embedded on the Dask cluster at
    `address`, or on a loopback LocalCluster of `workers` processes started for the call.
    `setup` ("module:function") runs on every worker before the model loads."""
    with cluster_client(address, workers) as client:
        return embed_on_client(
            client, texts, model, backend=backend, setup=setup, chunk_size=chunk_size
        )


@dataclass(frozen=True)
class ListeningSocket:
    """A TCP socket in the LISTEN state, and the process holding it."""

    pid: int
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        """Whether it listens on loopback only (127.0.0.0/8, ::1 or ::ffff:127.x)."""
        ip = ipaddress.ip_address(self.address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_loopback
        return ip.is_loopback


def _decode_address(hex_address: str) -> str:
    # /proc/net/tcp prints each 32-bit word of the address in host (little-endian) order.
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_sockets(pids: Iterable[int]) -> list[ListeningSocket]:
    """Every TCP socket (IPv4 and IPv6) the given processes listen on, read from /proc."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    found: list[ListeningSocket] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            state, inode = fields[3], fields[9]
            if state != "0A" or inode not in owner:  # 0A: TCP_LISTEN
                continue
            hex_address, _, hex_port = fields[1].partition(":")
            found.append(
                ListeningSocket(owner[inode], _decode_address(hex_address), int(hex_port, 16))
            )
    return found


def process_tree(pid: int | None = None) -> list[int]:
    """A process and all its descendants (the client, a LocalCluster's scheduler in it, the
    nannies and the workers)."""
    import psutil

    root = psutil.Process(pid or os.getpid())
    return [root.pid, *(child.pid for child in root.children(recursive=True))]


def check_loopback_only(pids: Iterable[int]) -> list[ListeningSocket]:
    """The listening sockets of these processes; `BuildError` if any is off loopback."""
    sockets = listening_sockets(pids)
    exposed = [s for s in sockets if not s.loopback]
    if exposed:
        raise BuildError(
            "cluster services listen beyond loopback: "
            + ", ".join(f"pid {s.pid} on {s.address}:{s.port}" for s in exposed)
        )
    return sockets
