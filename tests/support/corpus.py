"""The one writer of test corpora: records to a JSONL file the build reads (`id`, `title`,
`text` and any other field of the JSONL reader), one object a line, UTF-8. Tests make
their records however they like (by hand, from a topic table, at random) and write them here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write `records` to `path` as JSONL and return the path."""
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path
