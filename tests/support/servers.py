"""`semsearch serve` in its own process (waitress, as in production) on loopback, for the
tests that need a real server: the browser, the schema fuzzer, reloads under load."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from semsearch.bench.load import free_port
from tests.conftest import FAKE_MIN_SCORE


def semsearch(*args: str) -> list[str]:
    """The command line that runs the CLI with this interpreter and the fake embedder
    registered (`--model hashing-N`); conftest puts the checkout on PYTHONPATH for it."""
    return [sys.executable, "-m", "tests.support.cli", *args]


@contextlib.contextmanager
def serve(
    index: Path,
    log_path: Path,
    *extra: str,
    model: str = "hashing-256",
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start `semsearch serve` on a free port, wait until /readyz answers 200, yield the base
    URL, and stop the server with SIGTERM at the end."""
    with serve_process(index, log_path, *extra, model=model, env=env) as (url, _):
        yield url


@contextlib.contextmanager
def serve_process(
    index: Path,
    log_path: Path,
    *extra: str,
    model: str = "hashing-256",
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`serve`, yielding the server's process too (SIGTERM at the end unless it has exited)."""
    port = free_port()
    command = semsearch(
        "serve",
        "--index",
        str(index),
        "--model",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra,
    )
    url = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "SEMSEARCH_MIN_SCORE": str(FAKE_MIN_SCORE), **(env or {})}
    with (
        log_path.open("wb") as log,
        subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment) as server,
    ):
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                output = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"semsearch serve did not become ready: {output}")
            time.sleep(0.2)
        try:
            yield url, server
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
