"""Engine URIs: which search engine, which index in it, how long a call may take.

- `milvus:///abs/path/engine.db?collection=news` (or `milvus:rel/engine.db?...`): Milvus
  Lite, its engine a child process of this one on a unix socket;
- `milvus+unix:///run/engine.sock?collection=news`: an engine process already running on
  a unix socket (`semsearch engine`), shared by every server process on the machine;
- `milvus+http://host:19530?collection=news` (or `milvus+https`): a Milvus cluster; its
  token, if any, from `SEMSEARCH_ENGINE_TOKEN`, never in the URI.

`timeout=N` (whole seconds, default 5) bounds each engine call, retries included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from semsearch.errors import IndexUnavailableError
from semsearch.index.storage.milvus.client import MilvusPassages

ENGINE_SCHEMES = ("milvus", "milvus+unix", "milvus+http", "milvus+https")
DEFAULT_ENGINE_COLLECTION = "semsearch"
DEFAULT_ENGINE_TIMEOUT = 5


def is_engine_uri(index: str | Path) -> bool:
    """Whether `index` names a search engine rather than an index directory."""
    return isinstance(index, str) and index.split(":", 1)[0].lower() in ENGINE_SCHEMES


@dataclass(frozen=True)
class EngineAddress:
    """An engine URI taken apart: the client's URI, the index's name, the call timeout."""

    client_uri: str
    collection: str
    timeout: int

    def passages(self, collection: str | None = None) -> MilvusPassages:
        """A client for one of the engine's collections (the catalog's by default)."""
        return MilvusPassages(
            self.client_uri,
            collection or self.collection,
            token=os.environ.get("SEMSEARCH_ENGINE_TOKEN", ""),
            timeout=self.timeout,
        )


def parse_engine_uri(uri: str) -> EngineAddress:
    """The client URI, collection and timeout of an engine URI (see the module docstring)."""
    parsed = urlparse(uri)
    params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    unknown = set(params) - {"collection", "timeout"}
    if unknown:
        raise IndexUnavailableError(
            f"engine URI {uri!r}: unknown parameter {sorted(unknown)[0]!r} (collection, timeout)"
        )
    collection = params.get("collection", DEFAULT_ENGINE_COLLECTION)
    try:
        timeout = int(params.get("timeout", DEFAULT_ENGINE_TIMEOUT))
    except ValueError:
        raise IndexUnavailableError(f"engine URI {uri!r}: timeout is whole seconds") from None
    scheme = parsed.scheme.lower()
    if scheme == "milvus":
        path = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
        if not path.endswith(".db"):
            raise IndexUnavailableError(f"engine URI {uri!r}: a Milvus Lite path ends in .db")
        client_uri = str(Path(path).absolute())
    elif scheme == "milvus+unix":
        client_uri = f"unix:{parsed.path}"
    elif scheme in ("milvus+http", "milvus+https"):
        client_uri = f"{scheme.split('+')[1]}://{parsed.netloc}{parsed.path}"
    else:
        raise IndexUnavailableError(f"{uri!r} is not an engine URI ({', '.join(ENGINE_SCHEMES)})")
    if timeout < 1:
        raise IndexUnavailableError(f"engine URI {uri!r}: timeout must be at least 1 second")
    return EngineAddress(client_uri, collection, timeout)
