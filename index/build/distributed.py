"""Embedding passages on a Dask distributed cluster: `semsearch build --engine dask`.

`dask_pipeline(address, workers, setup)` is the build's way in: a `PipelineFactory` for
`build_index(pipeline_factory=...)` whose `DaskEmbeddingPipeline` is the twin of the in-process
`EmbeddingPipeline` (same `add`/`finish`/`close`/`busy_seconds`, same vector reuse), except
that each group of passages is a task on a worker of the cluster. Reading, parsing, chunking
and storing stay in the client process (docs/scaling.md measures why: about a tenth of a
build's CPU, next to embedding's nine), so the store, its chunk ids and offsets are made
exactly as in a single-process build; only texts go out and vectors come back. Every worker
checks that it loaded the same model as the client (name, revision, dimension, window,
backend, prompts, pooling): in `EmbedderPlugin.setup` as it joins, which fails the build's
start for the workers already there, and again in every task, so a worker that joins (or is
restarted) mid-build with other model files refuses its first task and the build fails with
a `BuildError` instead of storing its vectors.

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
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import CancelledError
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from semsearch.errors import BuildError
from semsearch.index.build.pipeline import (
    EmbeddingPipeline,
    EmbedProgress,
    GroupFuture,
    PipelineFactory,
)
from semsearch.index.build.reuse import VectorReuse
from semsearch.index.embed import Embedder, load_embedder, manifest_model, prompts_of
from semsearch.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from distributed import Client, LocalCluster, Worker

log = logging.getLogger(__name__)

#: Passages per task: big enough that scheduling (about 1 ms a task) is noise next to
#: embedding (about 20 ms a passage on onnx-int8), small enough that a dead worker loses little.
CHUNK_SIZE = 64
LOOPBACK_HOST = "127.0.0.1"
PLUGIN_NAME = "semsearch-embedder"
#: How long a build waits for a cluster given by address to have a worker at all.
WORKER_WAIT_SECONDS = 60

#: How the client's embedder is loaded again on a worker: its query and document prompts
#: (so a worker's environment cannot change them) and the torch batch size.
Prompts = tuple[str, str]

# The worker side: one embedder per (model, backend, prompts, batch size) in each worker
# process, and how many times each model was loaded there (tests check it is once).
_EMBEDDERS: dict[tuple[str, str | None, Prompts | None, int | None], Embedder] = {}
_DESCRIPTIONS: dict[tuple[str, str | None, Prompts | None, int | None], dict[str, Any]] = {}
_LOADS: dict[str, int] = {}
_LOCK = threading.Lock()


def call_import_path(path: str) -> None:
    """Import `module:function` and call the function with no arguments."""
    module_name, _, function_name = path.partition(":")
    if not module_name or not function_name:
        raise BuildError(f"setup {path!r} is not of the form 'package.module:function'")
    function = getattr(importlib.import_module(module_name), function_name)
    function()


def worker_embedder(
    model: str,
    backend: str | None = None,
    prompts: Prompts | None = None,
    batch_size: int | None = None,
) -> Embedder:
    """The embedder of this process for a model, loaded on first use and kept; `prompts`
    (query, document) override the worker's settings, as the client resolved them."""
    key = (model, backend, prompts, batch_size)
    with _LOCK:
        embedder = _EMBEDDERS.get(key)
        if embedder is None:
            overrides = (
                {"query_prompt": prompts[0], "document_prompt": prompts[1]} if prompts else None
            )
            embedder = load_embedder(model, batch_size, backend=backend, settings=overrides)
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


def embed_group(
    texts: list[str],
    model: str,
    backend: str | None,
    prompts: Prompts | None,
    batch_size: int | None,
    expected: dict[str, Any] | None = None,
) -> tuple[np.ndarray, float]:
    """A build's task: the vectors of one group of passages, and the seconds it took;
    `BuildError` before any encoding when this worker's model is not `expected` (the
    client's `describe_embedder`)."""
    embedder = checked_embedder(model, backend, prompts, batch_size, expected)
    started = time.perf_counter()
    vectors = np.asarray(embedder.encode_documents(texts), dtype=np.float32)
    return vectors, time.perf_counter() - started


def describe_embedder(embedder: Embedder) -> dict[str, Any]:
    """What must be equal between the client's and each worker's model: the manifest's
    record of it, backend included."""
    return manifest_model(embedder)


def model_reference(embedder: Embedder) -> str:
    """The name a worker loads the client's model by: the packaged or a registered model's
    name, else the path of its folder (which must be at the same path on every worker)."""
    path = getattr(embedder, "path", None)
    if embedder.name == DEFAULT_MODEL or path is None:
        return embedder.name
    return str(Path(path).resolve())


def worker_model(
    model: str, backend: str | None, prompts: Prompts | None, batch_size: int | None
) -> dict[str, Any]:
    """`describe_embedder` of this worker's embedder, worked out once per process."""
    key = (model, backend, prompts, batch_size)
    embedder = worker_embedder(model, backend, prompts, batch_size)
    with _LOCK:
        description = _DESCRIPTIONS.get(key)
        if description is None:
            description = _DESCRIPTIONS[key] = describe_embedder(embedder)
        return description


def other_model_message(worker: str, expected: dict[str, Any], found: dict[str, Any]) -> str:
    """Why a worker whose model is `found` refuses a build of the client's `expected`."""
    differs = sorted(k for k in expected.keys() | found.keys() if found.get(k) != expected.get(k))
    return (
        f"the Dask worker {worker} loaded another model than this process: "
        f"{', '.join(differs)} differ (the worker's {found}, this process's {expected}); "
        "give every worker the same model files"
    )


def checked_embedder(
    model: str,
    backend: str | None,
    prompts: Prompts | None,
    batch_size: int | None,
    expected: dict[str, Any] | None,
    worker: str | None = None,
) -> Embedder:
    """This worker's embedder, after checking its model is `expected` (unless None);
    `BuildError` naming the worker (`worker`, else the one running the task) if not."""
    embedder = worker_embedder(model, backend, prompts, batch_size)
    if expected is not None:
        found = worker_model(model, backend, prompts, batch_size)
        if found != expected:
            raise BuildError(other_model_message(worker or _this_worker(), expected, found))
    return embedder


def _this_worker() -> str:
    from distributed import get_worker

    try:
        return str(get_worker().address)
    except ValueError:  # not in a task
        return f"in process {os.getpid()}"


class EmbedderPlugin(WorkerPlugin):
    """Runs on every worker as it starts (a restarted one too): the optional setup
    function, the model load, and, given the client's `expected` description of it, the
    check that the worker's model is the same (`BuildError` if not).

    What the check stops depends on when the worker joined: for the workers there when the
    plugin is registered the error comes back to `register_plugin` and stops the build
    before a task is sent; a worker joining later only logs it (Dask keeps the worker), so
    each build task checks again (`embed_group`) and that worker's first task fails."""

    name = PLUGIN_NAME
    idempotent = False

    def __init__(
        self,
        model: str,
        backend: str | None = None,
        setup: str | None = None,
        prompts: Prompts | None = None,
        batch_size: int | None = None,
        expected: dict[str, Any] | None = None,
    ):
        self.model = model
        self.backend = backend
        self.setup_path = setup
        self.prompts = prompts
        self.batch_size = batch_size
        self.expected = expected

    def setup(self, worker: Worker) -> None:
        """Register what the model name needs, load the model into this process, and
        refuse (raise) if it is not the client's."""
        if self.setup_path:
            call_import_path(self.setup_path)
        checked_embedder(
            self.model,
            self.backend,
            self.prompts,
            self.batch_size,
            self.expected,
            worker=str(worker.address),
        )


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
        try:
            client = Client(address, timeout=WORKER_WAIT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise BuildError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        with client:
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
            f"embedding stopped: {str(exc).rstrip('.')}. Workers kept dying on the same "
            "passages (out of memory?); see the workers' logs. Nothing was written."
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


class DaskEmbeddingPipeline(EmbeddingPipeline):
    """The build's embedding pipeline with each group of passages a task on a Dask worker.

    Takes passages, reuses known vectors and returns (ids, vectors) in id order exactly as
    `EmbeddingPipeline` does; `busy_seconds` is the workers' encoding time summed over them
    (more than the wall time when several embed at once). A task whose workers kept dying
    fails `finish()` with a `BuildError`; `close()` cancels what is still queued and calls
    `on_close` (which stops a cluster started for the build)."""

    def __init__(
        self,
        embedder: Embedder,
        group: int,
        reuse: VectorReuse | None = None,
        progress: EmbedProgress | None = None,
        *,
        client: Client,
        setup: str | None = None,
        address: str | None = None,
        max_in_flight: int | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self._on_close = on_close
        self._closed = False
        prompts = prompts_of(embedder)
        self._task_args = (
            model_reference(embedder),
            getattr(embedder, "backend", None),
            (prompts.query, prompts.document),
            getattr(embedder, "batch_size", None),
        )
        self._expected = describe_embedder(embedder)  # every task checks its worker's model
        threads = self._start_workers(setup)
        # Enough groups queued that every worker thread has one running and one waiting.
        super().__init__(embedder, group, reuse, progress, max_in_flight or 2 * threads + 2)
        self.embedded_by = {
            "engine": "dask",
            "address": address or "LocalCluster on 127.0.0.1",
            "workers": len(client.nthreads()),
            "threads": threads,
            "distributed": metadata.version("distributed"),
        }

    def _start_workers(self, setup: str | None) -> int:
        """Load the model on every worker (once each, in the plugin), which checks it is the
        client's; returns how many worker threads the cluster has."""
        name, backend, prompts, batch_size = self._task_args
        plugin = EmbedderPlugin(name, backend, setup, prompts, batch_size, self._expected)
        try:
            self.client.register_plugin(plugin, name=PLUGIN_NAME)
        except BuildError:  # a worker with another model: other_model_message
            raise
        except Exception as exc:  # whatever the worker raised, pickled back to us
            raise BuildError(
                f"the Dask workers could not load {name}: {type(exc).__name__}: {exc}. Every "
                "worker needs the model's folder at the same path (shared storage) and, for an "
                "embedder registered in code, a --worker-setup that registers it"
            ) from exc
        threads: dict[str, int] = self.client.nthreads()
        return max(1, sum(threads.values()))

    def _start(self, texts: list[str]) -> GroupFuture:
        future: GroupFuture = self.client.submit(
            embed_group, texts, *self._task_args, self._expected, pure=False
        )
        return future

    def _wait(self, future: GroupFuture) -> np.ndarray:
        from distributed import KilledWorker

        try:
            vectors, seconds = future.result()
        except KilledWorker as exc:
            raise BuildError(
                f"embedding stopped: {str(exc).rstrip('.')}. Workers kept dying on the same "
                "passages (out of memory?); see the workers' logs. Nothing was published."
            ) from exc
        except (CancelledError, OSError) as exc:
            raise BuildError(
                f"embedding stopped: lost the Dask cluster ({type(exc).__name__}: {exc}). "
                "Nothing was published."
            ) from exc
        except BuildError as exc:  # a worker that joined late refused: another model
            raise BuildError(f"embedding stopped: {exc}. Nothing was published.") from exc
        except Exception as exc:  # whatever the task raised on its worker, pickled back
            raise BuildError(
                f"embedding stopped: a Dask worker failed a task ({type(exc).__name__}: "
                f"{exc}); see the workers' logs. Nothing was published."
            ) from exc
        self.busy_seconds += float(seconds)
        # Not normalised again: a second pass moves the last bit (see embed_on_client).
        return np.asarray(vectors, dtype=np.float32)

    def close(self) -> None:
        """Cancel the groups still queued, then stop the cluster if it was started here."""
        if self._closed:
            return
        self._closed = True
        try:
            pending = [future for _, future in self._in_flight]
            self._in_flight.clear()
            if pending:
                self.client.cancel(pending)
            super().close()
        finally:
            if self._on_close is not None:
                self._on_close()


def dask_pipeline(
    address: str | None = None, workers: int = 2, setup: str | None = None
) -> PipelineFactory:
    """A `PipelineFactory` for `build_index(pipeline_factory=...)`: embeds on the Dask
    cluster whose scheduler is at `address`, or on a LocalCluster of `workers` processes
    bound to 127.0.0.1, started with the pipeline and stopped when it closes. `setup`
    ("module:function") runs on every worker before the model loads."""

    def make(
        embedder: Embedder,
        group: int,
        reuse: VectorReuse | None,
        progress: EmbedProgress | None,
    ) -> EmbeddingPipeline:
        stack = ExitStack()
        try:
            client = stack.enter_context(cluster_client(address, workers))
            try:
                client.wait_for_workers(1 if address else workers, timeout=WORKER_WAIT_SECONDS)
            except TimeoutError as exc:
                raise BuildError(
                    f"no Dask worker joined the scheduler at {address or 'LocalCluster'} "
                    f"within {WORKER_WAIT_SECONDS} s: start some with `dask worker {address}`"
                ) from exc
            return DaskEmbeddingPipeline(
                embedder,
                group,
                reuse,
                progress,
                client=client,
                setup=setup,
                address=address,
                on_close=stack.close,
            )
        except BaseException:
            stack.close()
            raise

    return make


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
