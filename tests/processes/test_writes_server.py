"""Writes to a real `semsearch serve` on loopback: articles posted with a key are found by
the next search; `semsearch add --server` and `delete --server` go the same way; a key
revoked with `semsearch keys revoke` stops working on the next request."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from semsearch.index.build.builder import build_index
from tests.support.fake_embedder import HashingEmbedder
from tests.support.servers import semsearch, serve

pytestmark = pytest.mark.process

ARTICLES = [
    {
        "id": "tides",
        "title": "Spring tides",
        "text": "Spring tides flooded the harbour wall twice this week; the lower car "
        "park stays closed.",
    },
    {
        "id": "bees",
        "title": "Rooftop bees",
        "text": "Beekeepers on the library roof harvested forty jars of honey this summer.",
    },
]
PUSHED = [
    {
        "id": "quokka",
        "title": "Quokka census",
        "text": "Rangers counting quokkas on the island found four thousand of them.",
    },
    {"id": "broken", "text": 7},
]


def call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def search(url: str, query: str) -> list[str]:
    params = urllib.parse.urlencode({"q": query, "k": 3, "mode": "keyword"})
    status, answer = call(f"{url}/api/search?{params}")
    assert status == 200, answer
    return [hit["article"]["id"] for hit in answer["results"]]


def test_pushed_articles_are_found_by_the_next_search(tmp_path: Path) -> None:
    source = tmp_path / "base.jsonl"
    source.write_text("\n".join(json.dumps(a) for a in ARTICLES) + "\n", encoding="utf-8")
    index = tmp_path / "index"
    build_index([source], index, HashingEmbedder(dimension=256, max_seq_tokens=96))
    keys = tmp_path / "keys.sqlite"
    created = subprocess.run(
        semsearch("keys", "create", "scraper", "--scope", "write", "--file", str(keys)),
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.splitlines()[1]
    key_id = created.stdout.split()[2]
    assert key.startswith(f"ssk_{key_id}_") and key.encode() not in keys.read_bytes()
    env = {"SEMSEARCH_API_KEYS_FILE": str(keys)}
    with serve(index, tmp_path / "server.log", env=env) as url:
        body = "\n".join(json.dumps(a) for a in PUSHED).encode()
        ndjson = {"Content-Type": "application/x-ndjson"}
        status, answer = call(f"{url}/api/articles", "POST", body, ndjson)
        assert status == 401 and answer["status"] == 401
        headers = {**ndjson, "Authorization": f"Bearer {key}"}
        status, answer = call(f"{url}/api/articles", "POST", body, headers)
        assert status == 200, answer
        assert [(i["id"], i["status"], i["line"]) for i in answer["items"]] == [
            ("quokka", "created", 1),
            ("broken", "refused", 2),
        ]
        assert search(url, "quokka census island")[0] == "quokka"

        # The CLI posts NDJSON to the same endpoint.
        more = tmp_path / "more.jsonl"
        salt = {"id": "salt", "title": "Salt marshes", "text": "Salt marshes shelter fish."}
        more.write_text(json.dumps(salt) + "\n", encoding="utf-8")
        cli_env = {**os.environ, "SEMSEARCH_API_KEY": key}
        added = subprocess.run(
            semsearch("add", str(more), "--server", url),
            capture_output=True,
            text=True,
            env=cli_env,
            check=False,
        )
        assert added.returncode == 0, added.stderr
        assert "added: 1 (salt)" in added.stdout
        assert search(url, "salt marshes shelter")[0] == "salt"
        deleted = subprocess.run(
            semsearch("delete", "salt", "ghost", "--server", url),
            capture_output=True,
            text=True,
            env=cli_env,
            check=False,
        )
        assert deleted.returncode == 1 and "deleted: 1 (salt)" in deleted.stdout
        assert "ghost: not in the index" in deleted.stdout
        assert call(f"{url}/api/articles/salt")[0] == 404

        revoked = subprocess.run(
            semsearch("keys", "revoke", key_id, "--file", str(keys)),
            capture_output=True,
            text=True,
            check=False,
        )
        assert revoked.returncode == 0, revoked.stderr
        status, _ = call(f"{url}/api/articles/tides", "DELETE", None, headers)
        assert status == 401
        assert key not in (tmp_path / "server.log").read_text(errors="replace")
