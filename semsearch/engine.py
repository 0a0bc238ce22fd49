"""Milvus Lite's engine as a process of its own on a unix socket (`semsearch engine`), for
several server processes on one machine to share, as they would share a cluster."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

from semsearch.errors import IndexUnavailableError


def start_lite_engine(db_path: Path, socket_path: Path) -> subprocess.Popen[bytes]:
    """Start Milvus Lite's engine on `db_path` as its own process, serving `unix:<socket>`
    (no TCP port), for clients in other processes (`uri="unix:<socket>"`) as a cluster
    would be reached. The caller holds the database's lock for as long as the engine runs
    (the engine stops when it is released): stop it with `stop_lite_engine`."""
    import fcntl

    with warnings.catch_warnings():
        # milvus-lite 2.5 imports pkg_resources, which warns on import: not ours to fix.
        warnings.filterwarnings(
            "ignore", message="pkg_resources is deprecated", category=UserWarning
        )
        from milvus_lite.server import BIN_PATH

    db_path = db_path.absolute()
    lock_path = db_path.parent / f".{db_path.name}.lock"
    lock = lock_path.open("a")
    try:
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        lock.close()
        raise IndexUnavailableError(f"{db_path} is open in another engine process") from exc
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")}
    env["LD_LIBRARY_PATH"] = BIN_PATH + ":" + os.environ.get("LD_LIBRARY_PATH", "")
    args = [
        os.path.join(BIN_PATH, "milvus"),
        str(db_path),
        f"unix:{socket_path}",
        os.environ.get("LOG_LEVEL", "ERROR"),
        str(lock_path),
    ]
    process = subprocess.Popen(args, env=env, cwd=str(db_path.parent))
    process.lock_file = lock  # type: ignore[attr-defined]  # held as long as the engine runs
    return process


def stop_lite_engine(process: subprocess.Popen[bytes], kill: bool = False) -> None:
    """Stop an engine from `start_lite_engine` (`kill`: SIGKILL, as a crash would)."""
    import fcntl

    if kill:
        process.kill()
    lock = getattr(process, "lock_file", None)
    if lock is not None:
        fcntl.lockf(lock, fcntl.LOCK_UN)  # the engine stops when its lock is released
        lock.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
