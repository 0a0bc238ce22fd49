"""The layers import downward only (STYLE.md, "Layers and rooms"; ARCHITECTURE.md):
web/ -> search/ -> index/ -> the core (semsearch/errors.py, settings.py), with the CLI,
the benchmark and the engine launcher beside web/; no Flask below web/; and the app does not
import the server that runs it. Every import counts, those inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Each layer's folder and the semsearch packages it may import (its own included).
CORE = ("semsearch.errors", "semsearch.settings")
LAYERS = {
    "index": ("semsearch.index", *CORE),
    "search": ("semsearch.search", "semsearch.index", *CORE),
    "web": ("semsearch.web", "semsearch.search", "semsearch.index", *CORE),
}
#: Third-party packages a layer must not import.
FORBIDDEN = {"index": ("flask", "werkzeug"), "search": ("flask", "werkzeug")}
#: The server imports the app; nothing else in web/ may import the server or what it runs on.
SERVER_ONLY = ("semsearch.web.server", "gunicorn", "waitress")


def imported_names(path: Path) -> list[str]:
    """Every module name `path` imports, relative imports made absolute within its package."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                raise AssertionError(f"{path}: relative import; the project imports absolutely")
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def modules(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    allowed = LAYERS[layer]
    wrong = [
        (str(path.relative_to(ROOT)), name)
        for path in modules(layer)
        for name in imported_names(path)
        if name.startswith("semsearch") and not name.startswith(allowed) and name != "semsearch"
    ]
    assert wrong == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_web_framework_below_web(layer: str) -> None:
    wrong = [
        (str(path.relative_to(ROOT)), name)
        for path in modules(layer)
        for name in imported_names(path)
        if name.split(".")[0] in FORBIDDEN[layer]
    ]
    assert wrong == []


def test_the_app_does_not_import_its_server() -> None:
    wrong = [
        (str(path.relative_to(ROOT)), name)
        for path in modules("web")
        if path.name != "server.py"
        for name in imported_names(path)
        if name.startswith(SERVER_ONLY)
    ]
    assert wrong == []


def test_the_core_imports_no_layer() -> None:
    core = [ROOT / "semsearch" / "errors.py", ROOT / "semsearch" / "settings.py"]
    wrong = [
        (path.name, name)
        for path in core
        for name in imported_names(path)
        if name.startswith("semsearch") and not name.startswith(CORE)
    ]
    assert wrong == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule fails where it should: a module of index/ that imports search/."""
    module = tmp_path / "upward.py"
    module.write_text("def f():\n    from semsearch.search.service import SearchService\n")
    names = imported_names(module)
    assert any(not n.startswith(LAYERS["index"]) for n in names if n.startswith("semsearch."))
