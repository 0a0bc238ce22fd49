"""The project installs as one import package, `semsearch`, and nothing else.

pyproject maps the top-level folders index/, search/ and web/ onto semsearch.index,
semsearch.search and semsearch.web and lists every sub-package by hand; these tests catch a
folder left out of that list and a wheel that would put a generic name into site-packages.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


def package_config() -> dict[str, object]:
    """The [tool.setuptools] table of pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return dict(tomllib.load(handle)["tool"]["setuptools"])


def packages_on_disk(package_dir: dict[str, str]) -> set[str]:
    """Every folder with an __init__.py under the mapped folders, as its installed name."""
    found = set()
    for name, folder in package_dir.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    return found


def test_every_package_folder_is_listed_for_installation() -> None:
    config = package_config()
    package_dir = dict(config["package-dir"])  # type: ignore[call-overload]
    assert set(package_dir) == {"semsearch", "semsearch.index", "semsearch.search", "semsearch.web"}
    listed = set(config["packages"])  # type: ignore[call-overload]
    assert packages_on_disk(package_dir) == listed


@pytest.mark.process
def test_the_wheel_holds_only_semsearch(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = tmp_path.glob("semsearch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {
        name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")
    }
    assert top_level == {"semsearch"}
    for module in (
        "semsearch/index/storage/manifest.py",
        "semsearch/search/fusion.py",
        "semsearch/web/views.py",
        "semsearch/web/templates/index.html",
        "semsearch/web/static/style.css",
    ):
        assert module in names
