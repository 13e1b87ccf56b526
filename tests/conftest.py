"""Shared fixtures: where the repository, the raw sources and the published reference values are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _missing(reason: str) -> None:
    """Skip with the reason, or fail under CI=true (CI must have what is missing)."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (required under CI=true)")
    pytest.skip(reason)


def _required_folder(path: Path, what: str) -> Path:
    """``path`` if it exists; else :func:`_missing`."""
    if not path.is_dir():
        _missing(f"{what} not found at {path}")
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_raw_dir() -> Path:
    """The raw sources in the layout of ../shared/data (or $INTERDEP_RAW_DIR)."""
    path = Path(os.environ.get("INTERDEP_RAW_DIR", REPO.parent / "shared" / "data"))
    return _required_folder(path, "raw sources (set INTERDEP_RAW_DIR to a folder laid out as ../shared/data)")


@pytest.fixture(scope="session")
def validation_dir() -> Path:
    """Published reference values and fixtures (../shared/reference/validation)."""
    return _required_folder(REPO.parent / "shared" / "reference" / "validation", "validation references")


def _required_program(names: tuple[str, ...], hint: str) -> str:
    """Path of the first of ``names`` on PATH; else skip with the reason, or fail under CI=true (.ci/run installs
    it)."""
    import shutil

    path = next((p for name in names if (p := shutil.which(name))), None)
    if not path:
        _missing(f"{' / '.join(names)} not on PATH ({hint})")
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium for the browser checks of report.html."""
    from interdep.outputs.browser import CHROMIUM_NAMES

    return _required_program(CHROMIUM_NAMES, "Debian: apt-get install chromium")


@pytest.fixture(scope="session")
def pdflatex() -> str:
    """pdflatex with booktabs and threeparttable, for compiling the LaTeX tables."""
    return _required_program(("pdflatex",), "Debian: apt-get install texlive-latex-recommended texlive-latex-extra")
