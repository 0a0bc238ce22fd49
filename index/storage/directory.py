"""Where index versions live and how a new one is swapped in atomically.

`--out DIR` becomes a symbolic link to a version directory kept beside it:

    DIR -> .DIR.versions/20261124T221400Z-a1b2c3-4242
    .DIR.versions/20261124T221400Z-a1b2c3-4242/{manifest.json, vectors.faiss, store.sqlite}

A build writes `<id>.partial` in the versions folder, fsyncs it, renames it to `<id>`, and only
then replaces the link with `os.replace`, which is atomic on POSIX: a reader resolves DIR to
the old version or the new one, never to a half-written one. A crash before the replace
leaves the served version untouched; the next build removes the stale `.partial` folder.
The version served until the swap is kept (a server may still be loading or reading it);
older ones are deleted. Writers (build, add, delete) take turns under `writer_lock`.

`SEMSEARCH_CRASH_AT=<point>` makes a writer kill itself with SIGKILL at one of the named
points below (`crash_point`); the crash tests use it to stop a writer at every step of a
publish, besides killing it at random moments.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from semsearch.errors import BuildError, WriterBusyError
from semsearch.index.storage.manifest import MANIFEST_NAME

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
#: Files an operator keeps in an index directory (not built, not in the manifest) that each
#: new version carries over from the one it replaces: the synonyms (`semsearch.search.
#: synonyms`).
CARRIED_FILES = ("synonyms.txt",)


def crash_point(name: str) -> None:
    """Die here, as a power cut would, when the crash tests ask for it (a no-op otherwise)."""
    if os.environ.get("SEMSEARCH_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def versions_dir(out: Path) -> Path:
    """The hidden folder beside `out` that holds its versions."""
    return out.parent / f".{out.name}.versions"


@contextlib.contextmanager
def writer_lock(out: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the one writer's lock of `out` (builds, adds, deletes and a live index's writes
    take turns); with `timeout`, give up after that many seconds (WriterBusyError).

    Two writers that both start from version A would each publish A plus their own change,
    and the second would silently drop the first's. The lock is `flock` on a file beside
    `out`: the kernel releases it when its holder dies, even by `kill -9`, so a crashed
    writer never blocks the next one."""
    out = Path(os.path.abspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f".{out.name}.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            log.warning("waiting for %s to finish writing %s", holder, out)
            _wait_for_lock(handle, timeout, f"{holder} is writing {out}")
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _wait_for_lock(handle: IO[str], timeout: float | None, holder: str) -> None:
    """Block until the lock is ours, or raise WriterBusyError after `timeout` seconds."""
    if timeout is None:
        fcntl.flock(handle, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WriterBusyError(
                    f"{holder} for more than {timeout:g} s: try the write again"
                ) from None
            time.sleep(0.01)


def new_staging_dir(out: Path) -> Path:
    """A fresh, empty folder for a build to write into."""
    out = Path(os.path.abspath(out))
    if out.exists() and not out.is_symlink() and out.is_file():
        raise BuildError(f"--out {out} is a file: give a path for the index directory")
    folder = versions_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder)
    _remove_stale_links(out)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    # The random part keeps two builds in the same second apart; the pid ends the name so
    # that a later build can tell a dead build's leftovers from a running one.
    staging = folder / f"{stamp}-{secrets.token_hex(3)}-{os.getpid()}{PARTIAL_SUFFIX}"
    staging.mkdir()
    return staging


def remove_stale_partials(folder: Path) -> None:
    """Delete the `.partial` folders of writers that died. Called under `writer_lock`, so no
    other writer of this index is running: every `.partial` there is a dead one's (a pid
    check would be fooled by pid reuse, as in containers where every writer is pid 1)."""
    for partial in folder.glob(f"*{PARTIAL_SUFFIX}"):
        log.info("removing unfinished build %s", partial)
        shutil.rmtree(partial, ignore_errors=True)


def _remove_stale_links(out: Path) -> None:
    """Delete the temporary links of publishes that died before their `os.replace` (under
    `writer_lock`, like `remove_stale_partials`)."""
    for link in out.parent.glob(f".{out.name}.link-*"):
        if link.is_symlink():
            link.unlink()


def _fsync_tree(folder: Path) -> None:
    """Every file under `folder` (keyword/ included), then each folder, on disk."""
    for path in folder.iterdir():
        if path.is_dir() and not path.is_symlink():
            _fsync_tree(path)
        elif path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(staging: Path, out: Path) -> Path:
    """Make `staging` the version `out` points to, atomically; returns the version folder."""
    out = Path(os.path.abspath(out))
    if not (staging / MANIFEST_NAME).exists():
        raise BuildError(f"{staging} has no manifest: refusing to publish an unfinished build")
    _carry_over(out, staging)
    _fsync_tree(staging)
    crash_point("before-rename")
    final = staging.with_name(staging.name.removesuffix(PARTIAL_SUFFIX))
    os.rename(staging, final)
    _fsync_dir(final.parent)  # the rename is durable before any link can point at it
    crash_point("after-rename")
    served: Path | None = None  # the version readers see until the swap: kept
    if out.is_symlink():
        served = resolve_index_dir(out)
    elif out.exists():
        served = _adopt_existing_directory(out)
    link = out.parent / f".{out.name}.link-{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.relpath(final, out.parent), link)
    crash_point("before-swap")
    os.replace(link, out)
    crash_point("after-swap")
    _fsync_dir(out.parent)
    _prune_versions(versions_dir(out), keep={final.name} | ({served.name} if served else set()))
    return final


def _carry_over(out: Path, staging: Path) -> None:
    """Copy the CARRIED_FILES of the version `out` serves into `staging` (those it lacks)."""
    if not out.exists():
        return
    current = resolve_index_dir(out)
    for name in CARRIED_FILES:
        source, target = current / name, staging / name
        if source.is_file() and not target.exists():
            shutil.copyfile(source, target)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _adopt_existing_directory(out: Path) -> Path | None:
    """`out` is a plain folder: an empty one is removed, an index moved among the versions
    (returned, as the version served until now)."""
    if not any(out.iterdir()):
        out.rmdir()
        return None
    if not (out / MANIFEST_NAME).exists():
        raise BuildError(
            f"refusing to replace {out}: it is a folder that is not a semsearch index; "
            "choose another --out or remove it"
        )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    adopted = versions_dir(out) / f"{stamp}-adopted"
    os.rename(out, adopted)
    return adopted


def _prune_versions(folder: Path, keep: set[str]) -> None:
    """Keep the new version and the one served until now; delete every other finished one,
    including versions a writer renamed but died before swapping in (never served)."""
    for old in folder.iterdir():
        if old.is_dir() and not old.name.endswith(PARTIAL_SUFFIX) and old.name not in keep:
            log.info("removing old index version %s", old)
            shutil.rmtree(old, ignore_errors=True)


def resolve_index_dir(index_dir: Path) -> Path:
    """The version folder an index path points to now (a plain folder is its own version)."""
    return Path(os.path.realpath(index_dir))
