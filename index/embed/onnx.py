"""An ONNX Runtime int8 copy of a local sentence-transformers model, exported once and cached.

The export needs torch (and only then): a BERT-family encoder with mean or CLS pooling (read
from either format of `1_Pooling/config.json`) is exported with
`torch.onnx.export` (eager attention, dynamic batch and sequence axes), quantised with ONNX
Runtime's dynamic int8 quantisation (per channel), and compared with the sentence-transformers
model on a probe set of varied texts. The quantised model is kept under
`<cache>/onnx/<model fingerprint>/`, beside a JSON record of that comparison and the model
file's checksum. Loading reads the record first and refuses a model whose check is missing,
failed, or does not match the file; it never imports torch, so a server starts in a fraction
of a second. A model the export cannot reproduce (other pooling, a Dense layer after it, a
prompt left out of the pooling, an architecture the exporter fails on) raises
`OnnxUnsupportedError`, and `load_embedder` then runs it on torch and says so.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import ModelLoadError
from semsearch.index.embed.base import (
    Embedder,
    Pooling,
    Prompts,
    fingerprint_model,
    load_fast_tokenizer,
    max_seq_tokens_of,
    normalise_rows,
    read_pooling,
    resolve_model_path,
    resolve_prompts,
)
from semsearch.settings import DEFAULT_MODEL, get_setting

log = logging.getLogger(__name__)

# ONNX Runtime (1.32 on Linux) records usage events under ~/.cache/Microsoft and would send
# them to Microsoft; read when onnxruntime is first imported, so set before any import of it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

ONNX_NAME = "model-int8.onnx"
CHECK_NAME = "drift-check.json"
LOCK_NAME = ".export.lock"
#: Below this cosine to the reference on any probe text, a backend is refused.
MIN_COSINE = 0.98
#: Bumped when the export recipe changes, so older cached models are exported again.
RECIPE = "bert-meanpool-eager-opset17-dynamic-int8-per-channel-float-l0-attn-out-v1"
#: Matrix products kept in float32. Quantising every one of them drifts too far from the
#: reference on some probe texts (non-Latin scripts); keeping only layer 0's attention output
#: projection, a small share of the work, in float brings every probe back above MIN_COSINE
#: (figures: docs/benchmarks.md). Names are those of a BERT exported by `export_fp32`.
FLOAT_NODES = ("/encoder/encoder/layer.0/attention/output/dense/MatMul",)
OPSET = 17


# Varied on purpose: short queries, numbers and codes, other languages and scripts, odd
# characters, and passages near or past the 256-word-piece window, where int8 errors add up.
_LONG_HARBOUR = (
    "The harbour commission met on Tuesday evening to hear the engineers' report on the "
    "northern breakwater, which was damaged in the January storms when waves overtopped the "
    "crest for six hours and tore away nearly forty metres of armour stone. The report found "
    "that the core of the structure was intact but that the toe had been scoured by the "
    "changed currents since the new ferry berth was dredged, and it recommended placing "
    "heavier rock, of eight to ten tonnes each, along the seaward face before the autumn. "
    "Commissioners asked whether the cost, estimated at 4.2 million, could be shared with the "
    "ferry operator, whose dredging the engineers blamed in part, and whether fishing boats "
    "would be able to use the inner basin while barges delivered the stone. The chair said "
    "the work would be phased so that the slipway and the fuel pontoon stayed open, and that "
    "the commission would publish the full survey, including the diver inspections and the "
    "wave measurements from the buoy outside the entrance, on its website next week. "
    "Residents of the seafront terraces, who had complained of spray and shingle thrown onto "
    "the promenade, asked for a temporary barrier; the engineers said sandbags would do more "
    "harm than good and proposed closing the lower walkway during gales instead."
)
_LONG_BAKERY = (
    "Rye bread behaves nothing like wheat bread, and the first thing a baker learns is to "
    "stop kneading. Rye flour holds little gluten; its structure comes from pentosans, gums "
    "that swell with water and make a sticky paste rather than an elastic dough. That is why "
    "traditional rye doughs are acidified with a sourdough: the acid slows the enzymes that "
    "would otherwise break down the starch during baking and leave a gummy, collapsed crumb. "
    "A typical schedule builds the sour over three stages, at different temperatures and "
    "hydrations, to balance lactic and acetic flavours, then mixes the final dough for only "
    "a few minutes and lets it rest for thirty to sixty minutes before shaping. The loaves are "
    "proved in floured baskets until cracks appear on the surface, baked hot for the first "
    "ten minutes with steam, then finished in a falling oven for an hour or more. The hardest "
    "part comes last: a dense rye loaf must rest for a full day, wrapped in linen, before it "
    "is cut, because the crumb is still setting as it cools and a knife drawn through it "
    "early leaves a wet, sticky streak that never recovers, however long the loaf is kept."
)
_LONG_TRIAL = (
    "In a randomised, double-blind trial of 1,248 adults aged 40 to 75 with moderate "
    "hypertension (systolic 140-159 mmHg), participants received 5 mg of the study drug or a "
    "placebo once daily for 24 weeks. The primary outcome, the change in mean 24-hour "
    "ambulatory systolic pressure, was -11.3 mmHg (95% CI -12.6 to -10.0) with the drug "
    "against -2.1 mmHg with placebo (p < 0.001). Secondary outcomes included office blood "
    "pressure, the proportion reaching a target below 130/80, and serum potassium. Adverse "
    "events occurred in 18.4% versus 15.9%; dizziness (4.1% v 1.7%) and peripheral oedema "
    "(3.2% v 0.8%) were more frequent with the drug. Nine participants (0.7%) discontinued "
    "because of hyperkalaemia. Subgroup analyses by age, sex, baseline pressure, diabetes and "
    "estimated glomerular filtration rate showed consistent effects. The authors conclude that "
    "the drug lowers blood pressure by a clinically meaningful amount with acceptable "
    "tolerability, but note that longer trials with cardiovascular end points are needed, "
    "and that the population, recruited from 37 centres in 6 countries, under-represented "
    "people of African and South Asian ancestry, in whom responses to this class may differ."
)

PROBE_TEXTS: list[str] = [
    "how long did the tram strike last?",
    "rye bread",
    "who owns the harbour?",
    "climate change effects on coral reefs",
    "what did the minister say about interest rates",
    "cheap flights",
    "is coffee bad for your heart",
    "NATO",  # the empty text is left out: the API refuses empty queries, chunks have text
    "2017-11-09",
    "Order #48213 shipped 3 x 250 g at $12.99 each, total $38.97 (VAT 20%).",
    "The GDP grew 2.4% in Q3 2019, versus 1.9% in Q2 and 3.1% a year earlier.",
    "ISBN 978-3-16-148410-0, pp. 233-257, doi:10.1000/182",
    "Le conseil municipal a voté mardi soir la rénovation du pont de pierre.",
    "Die Bahn kündigte an, dass der Streik am Donnerstag enden werde.",
    "El precio del aceite de oliva subió un 40 % en dos años.",
    "Москва объявила о новых санкциях против европейских компаний.",
    "北京今天的空气质量很差，请减少户外活动。",
    "東京の地下鉄は朝のラッシュで非常に混雑している。",
    "عاد الهدوء إلى المدينة بعد أسبوع من الاحتجاجات",
    "Wow!!! Best. Day. Ever. :-) #blessed @everyone",
    "def encode_query(self, text: str) -> np.ndarray: return self.model(text)",
    "naïve café façade coöperate résumé Zürich Ærø",
    "The strike ended after nine days when the union accepted a raise and limits on split "
    "shifts, and trams returned to the streets on Thursday morning.",
    "Researchers found that mice fed a high-fat diet developed insulin resistance within "
    "weeks, but that the effect was reversed by exercise.",
    _LONG_HARBOUR,
    _LONG_BAKERY,
    _LONG_TRIAL,
    _LONG_HARBOUR + " " + _LONG_BAKERY,  # past the window: both backends must cut it alike
    " ".join([_LONG_TRIAL[:600]] * 3),
]


class ModelDriftError(ModelLoadError):
    """A backend's vectors differ from the reference model's beyond the allowed drift."""


class OnnxUnsupportedError(ModelLoadError):
    """The onnx-int8 backend cannot reproduce this model; the torch backend can."""


#: Poolings the export reproduces.
EXPORTED_POOLINGS = ("mean", "cls")


def check_exportable(model_dir: Path) -> Pooling:
    """The model's pooling if the ONNX export reproduces it, else OnnxUnsupportedError."""
    pooling = read_pooling(model_dir)
    if pooling.mode not in EXPORTED_POOLINGS:
        raise OnnxUnsupportedError(
            f"the onnx-int8 backend exports mean or CLS pooling only; {model_dir} pools by "
            f"{pooling.mode}"
        )
    if not pooling.include_prompt:
        raise OnnxUnsupportedError(
            f"{model_dir} leaves its prompt out of the pooling, which the onnx-int8 export "
            "does not reproduce"
        )
    if pooling.extra_modules:
        raise OnnxUnsupportedError(
            f"{model_dir} has modules after pooling ({', '.join(pooling.extra_modules)}) "
            "that the onnx-int8 export does not reproduce"
        )
    return pooling


@dataclass(frozen=True)
class DriftCheck:
    """The export's comparison with the reference model, kept beside the cached model."""

    recipe: str
    fingerprint: str
    min_cosine: float
    mean_cosine: float
    probes: int
    threshold: float
    onnx_sha256: str
    onnx_bytes: int
    checked_at: str
    libraries: dict[str, str]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def cache_root(cache: str | Path | None = None) -> Path:
    """The folder for derived model files: the given one, the `cache` setting
    (`$SEMSEARCH_CACHE`), or `$XDG_CACHE_HOME/semsearch` (`~/.cache/semsearch`)."""
    chosen = cache or get_setting("cache")
    if chosen:
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "semsearch"


def onnx_model_dir(fingerprint: str, cache: str | Path | None = None) -> Path:
    """Where the int8 model of a model with this content fingerprint is cached."""
    return cache_root(cache) / "onnx" / fingerprint


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_checked_model(folder: Path, fingerprint: str) -> tuple[Path, DriftCheck]:
    """The cached int8 model and its drift check, or ModelLoadError saying what is wrong.

    Refuses a model with no check (an export that did not finish), a check for another model
    or recipe, a file that does not match the checksum the check recorded (changed or
    truncated), and, with ModelDriftError, a model whose check failed."""
    model_file, check_file = folder / ONNX_NAME, folder / CHECK_NAME
    if not model_file.exists():
        raise ModelLoadError(f"no exported ONNX model at {model_file}")
    if not check_file.exists():
        raise ModelLoadError(
            f"{model_file} has no drift check beside it ({CHECK_NAME}): its export did not "
            "finish, so it is not trusted"
        )
    try:
        check = DriftCheck(**json.loads(check_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"unreadable drift check {check_file}: {exc}") from exc
    if check.recipe != RECIPE or check.fingerprint != fingerprint:
        raise ModelLoadError(
            f"{folder} was exported by another recipe or from another model "
            f"({check.recipe}, {check.fingerprint}); expected {RECIPE}, {fingerprint}"
        )
    size = model_file.stat().st_size
    if size != check.onnx_bytes or file_sha256(model_file) != check.onnx_sha256:
        raise ModelLoadError(
            f"{model_file} does not match the checksum recorded at its export ({size} bytes, "
            f"recorded {check.onnx_bytes}): the file was changed or truncated"
        )
    if check.min_cosine < MIN_COSINE:
        raise ModelDriftError(
            f"the ONNX int8 model at {folder} drifts from the reference model: its lowest "
            f"cosine to it on {check.probes} probe texts was {check.min_cosine:.4f}, below "
            f"{MIN_COSINE}; use the reference backend (SEMSEARCH_BACKEND=torch)"
        )
    return model_file, check


def ensure_onnx_model(
    model_dir: Path, fingerprint: str, cache: str | Path | None = None, export: bool = True
) -> tuple[Path, DriftCheck]:
    """The checked int8 model of a model directory, exported first if the cache has none.

    A missing, unfinished or corrupt cached model is exported again when `export` is true
    (this needs torch and sentence-transformers), and refused otherwise. A model whose drift
    check failed is always refused: exporting it again would give the same model."""
    folder = onnx_model_dir(fingerprint, cache)
    try:
        return read_checked_model(folder, fingerprint)
    except ModelDriftError:
        raise
    except ModelLoadError as exc:
        if not export:
            raise ModelLoadError(
                f"{exc}; export it by loading the onnx-int8 backend once with torch installed, "
                "or use the reference backend (SEMSEARCH_BACKEND=torch)"
            ) from exc
        if (folder / ONNX_NAME).exists():
            log.warning("%s; exporting it again", exc)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _export_lock(folder):
            # Another process may have finished the export while this one waited for the lock.
            try:
                return read_checked_model(folder, fingerprint)
            except ModelDriftError:
                raise
            except ModelLoadError:
                export_checked_model(model_dir, fingerprint, folder)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot write the exported ONNX model under {folder}: {exc}; set SEMSEARCH_CACHE "
            "to a writable folder, or use the reference backend (SEMSEARCH_BACKEND=torch)"
        ) from exc
    return read_checked_model(folder, fingerprint)


@contextlib.contextmanager
def _export_lock(folder: Path) -> Iterator[None]:
    """One exporter per cache folder at a time; the kernel releases it if the holder dies."""
    with (folder / LOCK_NAME).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def export_checked_model(model_dir: Path, fingerprint: str, folder: Path) -> DriftCheck:
    """Export, quantise and check the model into `folder`; the check is written last, so a
    model without one is an unfinished export. Raises ModelDriftError if the check fails
    (the failed check is kept, so later loads refuse quickly without torch)."""
    from semsearch.index.embed.sentence_transformer import SentenceTransformerEmbedder

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as work:
        fp32 = Path(work) / "model-fp32.onnx"
        int8 = Path(work) / ONNX_NAME
        export_fp32(model_dir, fp32)
        quantise_int8(fp32, int8)
        fp32.unlink()
        log.info("exported and quantised %s in %.1fs", model_dir, time.perf_counter() - started)
        candidate = OnnxEmbedder(str(model_dir), onnx_file=int8)
        reference = SentenceTransformerEmbedder(str(model_dir))
        cosines = drift_cosines(candidate, reference, PROBE_TEXTS)
        check = DriftCheck(
            recipe=RECIPE,
            fingerprint=fingerprint,
            min_cosine=round(float(cosines.min()), 6),
            mean_cosine=round(float(cosines.mean()), 6),
            probes=len(PROBE_TEXTS),
            threshold=MIN_COSINE,
            onnx_sha256=file_sha256(int8),
            onnx_bytes=int8.stat().st_size,
            checked_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            libraries=_library_versions(),
        )
        # A model without a check beside it counts as unfinished, so the old check goes first.
        with contextlib.suppress(FileNotFoundError):
            (folder / CHECK_NAME).unlink()
        os.replace(int8, folder / ONNX_NAME)
    _write_atomically(folder / CHECK_NAME, check.to_json())
    log.info(
        "ONNX int8 model at %s: cosine to the reference min %.4f, mean %.4f (%d probes)",
        folder,
        check.min_cosine,
        check.mean_cosine,
        check.probes,
    )
    if check.min_cosine < MIN_COSINE:
        raise ModelDriftError(
            f"the ONNX int8 export of {model_dir} drifts from the reference model: lowest "
            f"cosine {check.min_cosine:.4f} on {check.probes} probe texts, below {MIN_COSINE}; "
            "use the reference backend (SEMSEARCH_BACKEND=torch)"
        )
    return check


def drift_cosines(candidate: Embedder, reference: Embedder, texts: list[str]) -> np.ndarray:
    """Cosine of each text's vector from two embedders, as documents (one encode_documents
    call, so any batching and padding is exercised) and as queries (one at a time); shape
    (2 * len(texts),)."""
    documents = np.sum(
        candidate.encode_documents(texts) * reference.encode_documents(texts), axis=1
    )
    queries = np.array(
        [float(candidate.encode_query(t) @ reference.encode_query(t)) for t in texts]
    )
    return np.concatenate([documents, queries])


def _write_atomically(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def export_fp32(model_dir: Path, out: Path) -> None:
    """The model's encoder with its pooling (mean or CLS) as a float32 ONNX graph: inputs
    input_ids, attention_mask and, where the architecture takes them, token_type_ids (batch,
    sequence); output sentence_embedding (batch, dim), not normalised. OnnxUnsupportedError
    when the model cannot be exported."""
    cls_pooling = check_exportable(model_dir).mode == "cls"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ModelLoadError(
            f"exporting the onnx-int8 model needs torch and transformers once: {exc}"
        ) from exc

    try:
        encoder = AutoModel.from_pretrained(
            str(model_dir), local_files_only=True, attn_implementation="eager"
        )
    except Exception as exc:  # the library raises many types; the message is what matters
        raise ModelLoadError(f"cannot load {model_dir} for the ONNX export: {exc}") from exc
    encoder.eval()
    # BERT takes token types; RoBERTa-style models without a segment embedding may not.
    with_types = "token_type_ids" in inspect.signature(encoder.forward).parameters

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(
            self, input_ids: Any, attention_mask: Any, *token_type_ids: Any
        ) -> Any:  # pragma: no cover - traced, not called by tests directly
            extra = {"token_type_ids": token_type_ids[0]} if token_type_ids else {}
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, **extra
            ).last_hidden_state
            if cls_pooling:
                return hidden[:, 0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)

    # Two texts of different lengths, so padding is in the traced example; the ids come from
    # the model's own tokenizer, since vocabularies differ between models.
    tokenizer = load_fast_tokenizer(model_dir)
    if tokenizer is None:
        raise OnnxUnsupportedError(f"{model_dir} has no tokenizer.json for the ONNX export")
    long, short = (tokenizer.encode(t).ids for t in ("hello world, this is a test", "hello"))
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    pad = int(config.get("pad_token_id") or 0)
    ids = torch.full((2, len(long)), pad, dtype=torch.int64)
    ids[0, : len(long)] = torch.tensor(long)
    ids[1, : len(short)] = torch.tensor(short)
    mask = torch.zeros_like(ids)
    mask[0, : len(long)] = 1
    mask[1, : len(short)] = 1
    inputs = (ids, mask, torch.zeros_like(ids)) if with_types else (ids, mask)
    names = ["input_ids", "attention_mask", "token_type_ids"][: len(inputs)]
    axes = {0: "batch", 1: "sequence"}
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
            torch.onnx.export(
                Pooled().eval(),
                inputs,
                str(out),
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_axes={
                    **{name: axes for name in names},
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,  # the new exporter needs onnxscript, which is not a dependency
            )
    except Exception as exc:  # the exporter raises many types; the message is what matters
        raise OnnxUnsupportedError(f"the ONNX export of {model_dir} failed: {exc}") from exc


def quantise_int8(fp32: Path, out: Path, float_nodes: tuple[str, ...] = FLOAT_NODES) -> None:
    """Dynamic int8 quantisation of the weights, one scale per output channel, except the
    nodes named in `float_nodes` (see FLOAT_NODES)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs every tensor it touches on the root logger, and advice on top.
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                fp32,
                out,
                per_channel=True,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=list(float_nodes),
            )
    finally:
        logging.disable(logging.NOTSET)


#: Passages per ONNX Runtime call. Dynamic quantisation scales each call's activations by
#: their range over the whole batch (padding included), so batched texts would change each
#: other's vectors; one text per call keeps a passage's vector independent of its
#: neighbours, and is as fast as batching (docs/benchmarks.md).
ONNX_BATCH_SIZE = 1


class OnnxEmbedder:
    """The real model as an int8 ONNX graph on ONNX Runtime: the same weights and tokenizer
    as the torch backend, a quarter of its size, faster on the CPU, and no torch at load.

    The int8 model is exported once from the local files and cached with the result of its
    drift check (above); a model whose check is missing or failed is refused.
    `onnx_file` loads a given graph without that check (the export uses it to run the check).
    """

    backend = "onnx-int8"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = ONNX_BATCH_SIZE,
        cache: str | Path | None = None,
        export: bool = True,
        onnx_file: Path | None = None,
        threads: int = 1,
        workers: int | None = None,
        prompts: Prompts | None = None,
    ) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.path = resolve_model_path(model)
        self.pooling = check_exportable(self.path)
        self.prompts = prompts if prompts is not None else resolve_prompts(self.path)
        self.name = model if model == DEFAULT_MODEL else self.path.name
        self.batch_size = max(1, int(batch_size))
        self.revision = fingerprint_model(self.path)
        self.max_seq_tokens = max_seq_tokens_of(self.path)
        # Two instances of the model's tokenizer: one without truncation, for the chunker's
        # offsets, and one truncating at the model's window (the file says 128): what the
        # model sees. Padding is done per batch, to the longest text in it.
        tokenizer, window = load_fast_tokenizer(self.path), load_fast_tokenizer(self.path)
        if tokenizer is None or window is None:
            raise ModelLoadError(
                f"{self.path} has no tokenizer.json: the onnx-int8 backend needs a fast "
                "tokenizer; use the torch backend"
            )
        self._tokenizer = tokenizer
        self._window = window
        self._window.enable_truncation(max_length=self.max_seq_tokens)
        config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        self._pad_id = int(config.get("pad_token_id") or 0)
        self.drift_check: DriftCheck | None = None
        if onnx_file is None:
            onnx_file, self.drift_check = ensure_onnx_model(self.path, self.revision, cache, export)
        self.onnx_file = onnx_file
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # One thread per call, and as many calls at once as there are cores: one-thread calls
        # side by side embed faster than one call with every thread, and a query alone takes
        # about as long either way (docs/benchmarks.md). A server's request threads then
        # encode in parallel, not in turn.
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        self.workers = max(1, int(workers or len(os.sched_getaffinity(0))))
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about unused initialisers are noise here
        # Idle pool threads sleep instead of spinning: spinning threads steal the cores other
        # processes (another worker, a build) need, and gain nothing on a quiet machine
        # (docs/benchmarks.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = onnxruntime.InferenceSession(
                str(onnx_file), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own types for a bad file
            raise ModelLoadError(f"cannot load the ONNX model {onnx_file}: {exc}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimension = int(config.get("hidden_size") or 0)
        output = self._session.get_outputs()[0].shape
        if isinstance(output[-1], int):
            self.dimension = output[-1]
        if not self.dimension:
            raise ModelLoadError(f"model at {self.path} does not report its embedding size")

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [(int(a), int(b)) for a, b in encoding.offsets]

    def _run(self, encodings: list[Any]) -> np.ndarray:
        """Mean-pooled vectors of tokenised texts, padded to the longest of them."""
        longest = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), longest), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), longest), dtype=np.int64)
        types = np.zeros((len(encodings), longest), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
            types[row, :n] = encoding.type_ids
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        feeds = {name: value for name, value in feeds.items() if name in self._inputs}
        return np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # The prompt goes in front of the text before the cut, as sentence-transformers does.
        prompt = self.prompts.document
        encodings = self._window.encode_batch([prompt + t for t in texts])
        # Batches of similar lengths pad least; rows go back to their places after.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        size = self.batch_size
        batches = [order[start : start + size] for start in range(0, len(order), size)]

        def run(rows: list[int]) -> None:
            vectors[rows] = self._run([encodings[i] for i in rows])

        # ONNX Runtime lets go of the GIL while it runs, so threads keep every core busy.
        for _ in self._workers().map(run, batches):
            pass
        return normalise_rows(vectors)

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="onnx-embed")
            return self._pool

    def encode_query(self, text: str) -> np.ndarray:
        # Safe from many threads at once: the session and the (never reconfigured)
        # tokenizer are only read.
        row: np.ndarray = normalise_rows(
            self._run([self._window.encode(self.prompts.query + text)])
        )[0]
        return row


def check_drift(
    candidate: Embedder,
    reference: Embedder,
    texts: list[str] = PROBE_TEXTS,
    threshold: float = MIN_COSINE,
) -> float:
    """The lowest cosine between two embedders' vectors of the same texts (as a batch of
    documents and as single queries); ModelDriftError if it is below `threshold`."""
    lowest = float(drift_cosines(candidate, reference, texts).min())
    if lowest < threshold:
        raise ModelDriftError(
            f"the {candidate.backend} backend drifts from the {reference.backend} reference: "
            f"lowest cosine {lowest:.4f} on {len(texts)} probe texts, below {threshold}"
        )
    return lowest
