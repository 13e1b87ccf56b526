"""Shared fixtures: where the repository, the raw sources and the published reference values are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _required_folder(path: Path, what: str) -> Path:
    """``path`` if it exists; else skip with the reason, or fail under CI=true (CI must have it)."""
    if path.is_dir():
        return path
    reason = f"{what} not found at {path}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (required under CI=true)")
    pytest.skip(reason)


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
