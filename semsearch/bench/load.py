"""A bounded load generator for a running server: N clients, each with its own keep-alive
connection, sending searches on loopback for a fixed time or a fixed number of requests.

It counts every failure (a status other than 200, a body that is not the API's JSON, a
dropped connection) and records which index version answered, so a test can swap the index
under load and prove that no request failed. Standard library only: the numbers are the
server's, not a client library's.
"""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LoadReport:
    """What the clients saw."""

    clients: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + len(self.failures)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (
            f"{self.clients} clients, {self.seconds:.1f}s: {self.requests} requests, "
            f"{len(self.failures)} failed, {self.per_second:.1f}/s; latency ms "
            f"p50 {self.percentile(50):.1f}, p95 {self.percentile(95):.1f}, "
            f"p99 {self.percentile(99):.1f}; versions {dict(self.versions)}"
        )


def run_load(
    base_url: str,
    queries: list[str],
    clients: int = 8,
    seconds: float = 10.0,
    max_requests: int | None = None,
    params: dict[str, str] | None = None,
    timeout: float = 30.0,
    keep_going: Callable[[], bool] | None = None,
    path: str = "/api/search",
) -> LoadReport:
    """Send searches from `clients` threads until `seconds` pass (and then for as long as
    `keep_going()` says so) or until `max_requests` are sent; to `path` (a collection's
    search, `/api/collections/NAME/search`, answers in the same shape)."""
    url = urllib.parse.urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    report = LoadReport(clients, 0.0)
    lock = threading.Lock()
    budget = itertools.count()  # shared request numbers; next() is atomic in CPython
    started = time.perf_counter()
    deadline = started + seconds

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        latencies: list[float] = []
        failures: list[str] = []
        versions: Counter[str] = Counter()
        for i in budget:
            if max_requests is not None and i >= max_requests:
                break
            if time.perf_counter() > deadline and not (keep_going and keep_going()):
                break
            query = queries[(i + number) % len(queries)]
            target = f"{path}?" + urllib.parse.urlencode({"q": query, **(params or {})})
            sent = time.perf_counter()
            try:
                connection.request("GET", target)
                response = connection.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - sent) * 1000
                if response.status != 200:
                    failures.append(f"HTTP {response.status}: {body[:200]!r}")
                    continue
                answer = json.loads(body)
                versions[answer["index"]["version"]] += 1
                latencies.append(elapsed)
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=timeout)
        connection.close()
        with lock:
            report.latencies_ms.extend(latencies)
            report.failures.extend(failures)
            report.versions.update(versions)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.perf_counter() - started
    return report
