"""Writing to a running server: what `semsearch add --server` and `delete --server` send.

Files are read here with the same readers as a build (`read_articles`) and each article is
posted as one NDJSON line in the JSONL reader's fields, so the server reads it exactly as it
would read that line from a file. What the JSONL format has no field for (tags, a page's
extra metadata) stays behind: for everything a page holds, push the page itself
(`POST /api/articles` with `text/html`). Batches stay under the server's default limits.
Standard library only (urllib): nothing to install on the machine that pushes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from semsearch.index.ingest.articles import Article, Skipped
from semsearch.index.ingest.readers import read_articles
from semsearch.index.live import WriteOutcome

#: Articles per request, and bytes per request: under the server's default limits
#: (max_write_items 1000, max_write_bytes 32 MiB).
BATCH_ITEMS = 500
BATCH_BYTES = 8 * 1024 * 1024
#: Seconds to wait for one request (a batch is embedded before the answer).
TIMEOUT_SECONDS = 600
_FIELDS = ("id", "title", "text", "author", "publication", "published", "url")
_MORE_FIELDS = ("copyright", "license")


class ClientError(Exception):
    """The server refused a request or could not be reached; the message says which."""


def article_record(article: Article) -> dict[str, Any]:
    """An article as one JSONL record in the reader's fields (absent ones left out)."""
    record = {name: getattr(article, name) for name in (*_FIELDS, *_MORE_FIELDS)}
    return {name: value for name, value in record.items() if value not in (None, "")}


def push_articles(
    server: str,
    key: str,
    inputs: Iterable[str | Path],
    column_map: dict[str, str] | None = None,
) -> Iterator[WriteOutcome]:
    """Read the inputs and post their articles in NDJSON batches; every article's outcome
    (a record the readers skipped is refused here, named by its file and line)."""
    batch: list[tuple[str, bytes]] = []
    size = 0
    for item in read_articles(inputs, column_map):
        if isinstance(item, Skipped):
            yield WriteOutcome(item.origin, "refused", item.reason)
            continue
        line = json.dumps(article_record(item), ensure_ascii=False).encode("utf-8") + b"\n"
        if batch and (len(batch) >= BATCH_ITEMS or size + len(line) > BATCH_BYTES):
            yield from _post_batch(server, key, batch)
            batch, size = [], 0
        batch.append((item.origin, line))
        size += len(line)
    if batch:
        yield from _post_batch(server, key, batch)


def delete_articles(server: str, key: str, ids: Sequence[str]) -> Iterator[WriteOutcome]:
    """Delete ids on the server, in batches; every id's outcome."""
    for start in range(0, len(ids), BATCH_ITEMS):
        body = json.dumps({"ids": list(ids[start : start + BATCH_ITEMS])}).encode("utf-8")
        answer = _request(server, "/api/articles/delete", key, body, "application/json")
        for item in answer["items"]:
            yield WriteOutcome(item["id"] or "", item["status"], item["reason"])


def _post_batch(server: str, key: str, batch: list[tuple[str, bytes]]) -> Iterator[WriteOutcome]:
    body = b"".join(line for _, line in batch)
    answer = _request(server, "/api/articles", key, body, "application/x-ndjson")
    for item in answer["items"]:
        origin = batch[item["line"] - 1][0] if item.get("line") else ""
        reason = item["reason"]
        if item["status"] == "refused" and origin:
            reason = f"{reason} ({origin})"
        yield WriteOutcome(item["id"] or origin, item["status"], reason)


def _request(server: str, path: str, key: str, body: bytes, content_type: str) -> Any:
    """POST `body`; the answer's JSON, or ClientError with the server's own message."""
    if not server.lower().startswith(("http://", "https://")):
        raise ClientError(f"--server must be an http(s) URL, got {server!r}")
    request = urllib.request.Request(
        server.rstrip("/") + path,
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise ClientError(f"the server answered {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ClientError(f"cannot reach {server}: {reason}") from None


def set_alias(server: str, key: str, name: str, target: str) -> dict[str, str]:
    """Move alias `name` onto collection `target` on a running server (admin key); the
    server's aliases after the move."""
    body = json.dumps({"name": name, "target": target}).encode("utf-8")
    answer = _request(server, "/api/aliases", key, body, "application/json")
    return dict(answer["aliases"])
