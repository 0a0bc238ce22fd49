"""Real processes, real signals: writers killed with SIGKILL at every step and at random
moments, a live server that swaps index versions under load without failing a request, and
the server itself: waitress in one process, gunicorn with `--workers N`.

The fake embedder (`--model hashing-256`) keeps each process fast; what is under test is
the file handling, the locking and the server, which are the same for the real model.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from semsearch.bench.load import free_port, run_load
from semsearch.index.build.builder import build_index
from semsearch.index.build.update import update_index
from semsearch.index.embed import load_embedder
from semsearch.index.storage.directory import versions_dir
from semsearch.index.storage.manifest import read_manifest, verify_files
from semsearch.search.service import SearchService
from semsearch.web.server import gunicorn_binds
from tests.conftest import FAKE_MIN_SCORE
from tests.support.corpus import write_jsonl
from tests.support.servers import semsearch, serve, serve_process

pytestmark = pytest.mark.process  # every test here starts child processes

MODEL = "hashing-256"
WORDS = [
    *("river", "harbour", "council", "budget", "school", "vaccine", "election", "drought"),
    *("wheat", "bridge", "railway", "museum", "library", "orchestra", "glacier", "wildfire"),
    *("courthouse", "senate", "tariff", "refinery", "vineyard", "lighthouse", "ferry"),
    *("copper", "lithium", "satellite", "telescope", "monsoon", "festival", "archive"),
]


@pytest.fixture(scope="module")
def embedder() -> Any:
    return load_embedder(MODEL)


def write_articles(path: Path, first: int, count: int) -> Path:
    """`count` distinct articles with ids art-<n>, as JSONL."""
    rng = random.Random(first)
    records = []
    for n in range(first, first + count):
        words = " ".join(rng.choice(WORDS) for _ in range(120))
        text = f"Report {n} on the {WORDS[n % len(WORDS)]}. {words}."
        records.append({"id": f"art-{n}", "title": f"Report {n}", "text": text})
    return write_jsonl(path, records)


def run(*args: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if crash_at:
        env["SEMSEARCH_CRASH_AT"] = crash_at
    return subprocess.run(
        semsearch(*args), capture_output=True, text=True, env=env, timeout=120, check=False
    )


def assert_servable(index: Path, embedder: Any) -> int:
    """The index link resolves to a complete, verified version that answers; returns its
    article count."""
    version = index.resolve()
    manifest = read_manifest(version)
    verify_files(version, manifest)
    service = SearchService(index, embedder, {"min_score": FAKE_MIN_SCORE})
    assert service.search("river harbour budget", 5).hits
    return int(manifest.counts["articles"])


def assert_recovered(index: Path, pruned: bool = True, context: str = "") -> None:
    """Nothing left behind by the dead writer once the next one has finished: no staging
    folder, no temporary link, and no version but the served one and the one before it (a
    version renamed but never swapped in must not push the real previous one out).
    `pruned=False`: the writer was killed after its swap, maybe before removing the
    versions older than the one it replaced; those wait for the next writer."""
    assert not list(versions_dir(index).glob("*.partial")), context
    assert not list(index.parent.glob(f".{index.name}.link-*")), context
    kept = {p.name for p in versions_dir(index).iterdir()}
    assert index.resolve().name in kept, (context, kept)
    if pruned:
        assert len(kept) <= 2, (context, kept)


@pytest.fixture()
def base(tmp_path: Path, embedder: Any) -> Path:
    index = tmp_path / "idx"
    build_index([write_articles(tmp_path / "base.jsonl", 0, 30)], index, embedder)
    return index


BUILD_POINTS = ["staged", "before-rename", "after-rename", "before-swap", "after-swap"]


@pytest.mark.parametrize("point", BUILD_POINTS)
def test_build_killed_at_each_step(tmp_path: Path, base: Path, embedder: Any, point: str) -> None:
    served = base.resolve()
    more = write_articles(tmp_path / "more.jsonl", 100, 20)
    build = ("build", str(more), "--out", str(base), "--model", MODEL, "--no-tune", "--quiet")
    crashed = run(*build, crash_at=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    if point == "after-swap":
        assert assert_servable(base, embedder) == 20  # the swap is the moment of commit
    else:
        assert base.resolve() == served and assert_servable(base, embedder) == 30
    finished = run(*build)
    assert finished.returncode == 0, finished.stderr
    assert assert_servable(base, embedder) == 20
    assert_recovered(base)
    # The version served before the finished build is the one kept beside it.
    if point != "after-swap":
        assert served.exists()


@pytest.mark.parametrize(
    "point",
    ["update-copied", "staged", "before-rename", "after-rename", "before-swap", "after-swap"],
)
def test_add_killed_at_each_step(tmp_path: Path, base: Path, embedder: Any, point: str) -> None:
    served = base.resolve()
    add = ("add", str(write_articles(tmp_path / "more.jsonl", 100, 10)), "--index", str(base))
    crashed = run(*add, "--model", MODEL, "--quiet", crash_at=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    if point == "after-swap":
        assert assert_servable(base, embedder) == 40
    else:
        assert base.resolve() == served and assert_servable(base, embedder) == 30
    finished = run(*add, "--model", MODEL, "--quiet")
    assert finished.returncode == 0, finished.stderr
    assert assert_servable(base, embedder) == 40
    assert_recovered(base)


def test_writers_killed_at_random_moments(tmp_path: Path, base: Path, embedder: Any) -> None:
    """SIGKILL at random times during `add`, `delete` and `build`: the served index is always
    the old version or the new one, complete, and the next run finishes the job."""
    more = write_articles(tmp_path / "more.jsonl", 100, 200)
    add = ("add", str(more), "--index", str(base), "--model", MODEL, "--quiet")
    delete = ("delete", *[f"art-{n}" for n in range(100, 300)], "--index", str(base))
    delete = (*delete, "--model", MODEL)
    rebuild = ("build", str(tmp_path / "base.jsonl"), "--out", str(base), "--model", MODEL)
    # Each command, then the article count it leaves; run whole once to time it.
    cycle = [(add, 230), (delete, 30), (add, 230), ((*rebuild, "--quiet"), 30)]
    duration: dict[tuple[str, ...], float] = {}
    for command, target in cycle:
        started = time.perf_counter()
        assert run(*command).returncode == 0
        duration[command] = time.perf_counter() - started
        assert assert_servable(base, embedder) == target
    seed = int(os.environ.get("SEMSEARCH_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    for attempt, (command, target) in enumerate(cycle * 2):
        before = assert_servable(base, embedder)
        with subprocess.Popen(
            semsearch(*command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ) as writer:
            time.sleep(rng.uniform(0.0, duration[command]))
            writer.send_signal(signal.SIGKILL)
            writer.wait()
        after = assert_servable(base, embedder)
        assert after in (before, target), f"seed {seed}, attempt {attempt}: {after} articles"
        context = f"seed {seed}, attempt {attempt}"
        if after != target:  # killed before its commit: the next run does the whole job
            finished = run(*command)
            assert finished.returncode == 0, f"{context}: {finished.stderr}"
            assert assert_servable(base, embedder) == target
            assert_recovered(base, context=context)
        else:  # killed after its swap, maybe before its clean-up
            assert_recovered(base, pruned=False, context=context)


def test_server_swaps_versions_under_load_without_failing(
    tmp_path: Path, base: Path, embedder: Any
) -> None:
    """8 clients for 8 s while the index is swapped twice (an add, then a rebuild): no
    failed request, and answers from all three versions."""
    first = read_manifest(base).version
    swaps: list[str] = []

    def swap_twice() -> None:
        time.sleep(2)
        update_index(base, embedder, add=[write_articles(tmp_path / "b.jsonl", 500, 20)])
        swaps.append(read_manifest(base).version)
        time.sleep(2.5)
        build_index([write_articles(tmp_path / "c.jsonl", 900, 40)], base, embedder)
        swaps.append(read_manifest(base).version)
        time.sleep(1.5)  # the server polls every 0.2 s: time to answer from the last one

    with serve(base, tmp_path / "serve.log", "--reload-interval", "0.2", "--threads", "8") as url:
        swapper = threading.Thread(target=swap_twice)
        swapper.start()
        # 8 s at least, and on until both swaps are served (a slow machine takes longer).
        report = run_load(
            url,
            ["river budget", "glacier telescope", "ferry copper"],
            8,
            8.0,
            keep_going=swapper.is_alive,
        )
        swapper.join()
    print(report.summary())
    assert report.failures == []
    assert set(report.versions) == {first, *swaps} and len(swaps) == 2
    assert report.requests > 100


@pytest.mark.parametrize("workers", ["1", "2"])
def test_silent_client_is_disconnected(tmp_path: Path, base: Path, workers: str) -> None:
    """A client that sends half a request and goes quiet is cut off after --timeout, by
    waitress and by gunicorn's workers."""
    with serve(base, tmp_path / "serve.log", "--timeout", "2", "--workers", workers) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as slow:
            slow.sendall(b"GET /api/search?q=river HTTP/1.1\r\nHost: localhost\r\n")
            started = time.monotonic()
            assert slow.recv(1024) == b""  # closed by the server, not answered
            assert time.monotonic() - started < 10


# --- serve --workers N --------------------------------------------------------------------


def workers_of(server: subprocess.Popen[bytes]) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> bytes:
    """One request on a connection of its own (so the kernel may hand it to any worker)."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def metric(url: str, name: str) -> float:
    """The sum of a metric's samples in `GET /metrics`, asked of whichever worker answers."""
    text = fetch(url + "/metrics").decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_workers_share_the_port_and_count_every_request(tmp_path: Path, base: Path) -> None:
    """Two workers answer on one port; /metrics counts both workers' requests whichever
    worker answers it; SIGTERM stops the master and both workers cleanly."""
    with serve_process(base, tmp_path / "serve.log", "--workers", "2") as (url, server):
        workers = workers_of(server)
        assert len(workers) == 2
        report = run_load(url, ["river budget", "glacier telescope"], 8, 3.0)
        assert report.failures == [] and report.requests > 50
        searches = 'semsearch_requests_total{endpoint="search.api_search"'
        for _ in range(6):  # new connections: different workers answer
            assert metric(url, searches) == report.requests
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_admin_reload_reaches_every_worker(tmp_path: Path, base: Path, embedder: Any) -> None:
    """With polling off, one POST /api/admin/reload moves both workers to the new version."""
    key = "worker-admin-key"
    with serve(
        base, tmp_path / "serve.log", "--workers", "2", "--reload-interval", "0",
        env={"SEMSEARCH_ADMIN_KEY": key},
    ) as url:  # fmt: skip
        update_index(base, embedder, add=[write_articles(tmp_path / "new.jsonl", 500, 5)])
        new = read_manifest(base).version
        admin = {"Authorization": f"Bearer {key}"}
        answer = json.loads(fetch(url + "/api/admin/reload", "POST", admin))
        assert answer["index"]["version"] == new
        deadline = time.monotonic() + 20
        while metric(url, 'semsearch_reloads_total{result="ok"}') < 2:
            assert time.monotonic() < deadline, "the other worker did not reload"
            time.sleep(0.2)
        versions = {json.loads(fetch(url + "/readyz"))["index"]["version"] for _ in range(20)}
        assert versions == {new}


def test_a_dead_worker_is_replaced_and_workers_die_with_the_master(
    tmp_path: Path, base: Path
) -> None:
    """A worker killed from outside is replaced by a new one (gunicorn's documented way; the
    other worker and the server go on), and its requests stay counted; workers of a master
    killed with SIGKILL exit."""
    searches = 'semsearch_requests_total{endpoint="search.api_search"'
    with serve_process(base, tmp_path / "a.log", "--workers", "2") as (url, server):
        first, second = workers_of(server)
        for _ in range(10):
            fetch(url + "/api/search?q=river")
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(now := workers_of(server)) < 2 or first in now:
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.1)
        assert second in now and server.poll() is None
        assert json.loads(fetch(url + "/readyz"))["ok"] is True
        for _ in range(6):  # whichever worker answers, the dead one's requests count
            assert metric(url, searches) == 10
        assert f"Worker (pid:{first}) was sent SIGKILL" in (tmp_path / "a.log").read_text()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    # The master cannot clean up after a SIGKILL: its metrics folder goes in tmp_path.
    metrics_dir = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with serve_process(base, tmp_path / "b.log", "--workers", "2", env=metrics_dir) as (
        _,
        server,
    ):
        workers = workers_of(server)
        server.kill()
        server.wait(timeout=30)
        deadline = time.monotonic() + 10
        while [pid for pid in workers if Path(f"/proc/{pid}").exists()]:
            assert time.monotonic() < deadline, "workers outlived their master"
            time.sleep(0.1)


def test_a_reload_notice_to_a_starting_worker_is_not_lost(
    tmp_path: Path, base: Path, embedder: Any
) -> None:
    """A worker still loading when another is asked to reload may have opened the old
    version: the notice waits for it (blocked, not ignored) and it reloads once started."""
    key = "worker-admin-key"
    command = semsearch(
        "serve", "--index", str(base), "--model", MODEL, "--port", str(free_port()),
        "--workers", "2", "--reload-interval", "0",
    )  # fmt: skip
    env = {**os.environ, "SEMSEARCH_MIN_SCORE": str(FAKE_MIN_SCORE), "SEMSEARCH_ADMIN_KEY": key}
    url = f"http://127.0.0.1:{command[command.index('--port') + 1]}"
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 20
        while len(workers := workers_of(server)) < 2:
            assert time.monotonic() < deadline
        late = workers[1]
        os.kill(late, signal.SIGSTOP)  # long before it can have installed its handler
        while True:  # the other worker answers
            try:
                fetch(url + "/readyz")
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        update_index(base, embedder, add=[write_articles(tmp_path / "new.jsonl", 500, 5)])
        new = read_manifest(base).version
        fetch(url + "/api/admin/reload", "POST", {"Authorization": f"Bearer {key}"})
        time.sleep(0.5)  # the master has passed the notice on by now
        os.kill(late, signal.SIGCONT)
        while metric(url, 'semsearch_reloads_total{result="ok"}') < 2:
            assert time.monotonic() < deadline + 20, "the starting worker lost the notice"
            time.sleep(0.2)
        versions = {json.loads(fetch(url + "/readyz"))["index"]["version"] for _ in range(20)}
        assert versions == {new}
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    ("signals", "slow_worker"),
    [
        (["SIGTERM", "SIGTERM"], True),
        (["SIGTERM", "SIGUSR1"], True),
        (["SIGTERM", "SIGHUP"], True),
        (["SIGTERM", "SIGUSR1"], False),
        (["SIGINT", "SIGINT"], False),
    ],
)
def test_the_master_stops_cleanly_whatever_signals_come(
    tmp_path: Path, base: Path, signals: list[str], slow_worker: bool
) -> None:
    """A second signal while the workers stop (a second Ctrl-C, a reload notice, a hang-up)
    or just after they have still ends in exit status 0 with the metrics folder removed."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    with serve_process(base, tmp_path / "serve.log", "--workers", "2", env=env) as (_, server):
        workers = workers_of(server)
        assert len(list(folder.iterdir())) == 1  # this run's own folder inside the given one
        if slow_worker:  # stopping now takes a while (SIGKILL at 10 s)
            os.kill(workers[0], signal.SIGSTOP)
            # Not stopped until it next runs: a SIGTERM that came first would kill it.
            deadline = time.monotonic() + 10
            while Path(f"/proc/{workers[0]}/stat").read_text().rpartition(")")[2].split()[0] != "T":
                assert time.monotonic() < deadline, "the worker did not stop"
                time.sleep(0.01)
        for name in signals:
            server.send_signal(getattr(signal, name))
            time.sleep(0.05)
        assert server.wait(timeout=30) == 0
    assert list(folder.iterdir()) == []


def test_sighup_replaces_the_workers_on_the_current_index(
    tmp_path: Path, base: Path, embedder: Any
) -> None:
    """SIGHUP (gunicorn's graceful reload): new workers start on the version the index link
    points to now, the old ones stop, the counts go on; then SIGTERM stops it all cleanly."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    searches = 'semsearch_requests_total{endpoint="search.api_search"'
    with serve_process(
        base, tmp_path / "serve.log", "--workers", "2", "--reload-interval", "0", env=env
    ) as (url, server):
        old = workers_of(server)
        for _ in range(5):
            fetch(url + "/api/search?q=river")
        update_index(base, embedder, add=[write_articles(tmp_path / "new.jsonl", 500, 5)])
        new = read_manifest(base).version
        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while set(workers := workers_of(server)) & set(old) or len(workers) < 2:
            assert server.poll() is None and time.monotonic() < deadline, workers
            time.sleep(0.1)
        while True:  # the new workers may still be loading
            try:
                versions = {json.loads(fetch(url + "/readyz"))["index"]["version"]}
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        versions |= {json.loads(fetch(url + "/readyz"))["index"]["version"] for _ in range(10)}
        assert versions == {new}
        assert metric(url, searches) == 5
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_body_over_the_limit_gets_the_json_413(tmp_path: Path, base: Path, workers: str) -> None:
    """However big the body (over waitress's old 1 MiB, sent whole, or chunked), a Python
    client reads the app's JSON 413 instead of a connection reset, and the server goes on."""
    with serve(base, tmp_path / "serve.log", "--workers", workers) as url:
        bodies: list[Any] = [b"x" * (2 << 20), b"x" * (20 << 20)]
        bodies.append(iter([b"x" * (1 << 20)] * 3))  # no length: sent chunked
        for body in bodies:
            request = urllib.request.Request(
                url + "/api/search", data=body, headers={"Content-Type": "application/json"}
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 413
            assert refused.value.headers["Content-Type"] == "application/json"
            answer = json.loads(refused.value.read())
            assert answer["ok"] is False and answer["status"] == 413
            assert "Too Large" in answer["error"]
        assert json.loads(fetch(url + "/api/search?q=river"))["ok"] is True
        small = iter([b'{"q": ', b'"river"}'])  # a chunked body under the limit is read whole
        request = urllib.request.Request(
            url + "/api/search", data=small, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["query"] == "river"


def test_star_binds_every_interface_with_gunicorn() -> None:
    """`--host '*'` with workers: one dual-stack socket, which takes IPv4 too (binding a
    second one on 0.0.0.0 would find the port taken)."""
    assert gunicorn_binds("*", 8000) == ["[::]:8000" if socket.has_ipv6 else "0.0.0.0:8000"]
    assert gunicorn_binds("127.0.0.1", 8000) == ["127.0.0.1:8000"]
    assert gunicorn_binds("::1", 8000) == ["[::1]:8000"]


def test_metrics_count_this_run_only_with_a_given_folder(tmp_path: Path, base: Path) -> None:
    """Counts kept in a user's PROMETHEUS_MULTIPROC_DIR by an earlier run are not added to
    this run's, with or without workers."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    searches = 'semsearch_requests_total{endpoint="search.api_search"'
    for workers in ("2", "2", "1", "1"):
        with serve(base, tmp_path / "serve.log", "--workers", workers, env=env) as url:
            for _ in range(5):
                fetch(url + "/api/search?q=river")
            assert metric(url, searches) == 5
