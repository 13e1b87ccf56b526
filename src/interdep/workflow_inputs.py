"""Which source files each rule reads, so that Snakemake tracks them (a changed source reruns exactly the jobs
that read it), provenance.json hashes them, and the scripts read exactly those files. Used by the rules only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interdep.config import resolve_source


def panel_source_files(options: Mapping[str, Any], raw_dir: str | Path) -> dict[str, str]:
    """Source key -> file for the panel stage (``panel`` for the demo; ``data/sources.csv`` keys for real data)."""
    if options["source"] == "demo":
        return {"panel": str(resolve_source(raw_dir, options.get("file", "panel.csv"), key="panel.file"))}
    from interdep.panel.real import source_files

    files = {k: str(v) for k, v in source_files(Path(raw_dir), dict(options)).items()}
    if options["source"] == "table":
        files["contributions"] = str(resolve_source(raw_dir, options["contributions"]["file"],
                                                    key="panel.contributions.file"))
    return files


def panel_options_with_files(options: Mapping[str, Any], files: Mapping[str, str]) -> dict[str, Any]:
    """The panel options with every source path replaced by the absolute path of the rule's input."""
    out = dict(options)
    if out["source"] == "demo":
        out["file"] = str(Path(files["panel"]).resolve())
        return out
    out["files"] = {k: str(Path(v).resolve()) for k, v in files.items() if k != "contributions"}
    if "contributions" in files:
        out["contributions"] = {**out["contributions"], "file": str(Path(files["contributions"]).resolve())}
    return out


def channel_source_file(name: str, spec: Mapping[str, Any], raw_dir: str | Path) -> str:
    """The one source file a channel reads."""
    from interdep.weights.channels import channel_file, resolve_spec

    if spec.get("file"):
        return str(resolve_source(raw_dir, spec["file"], key=f"channels.{name}.file"))
    return str(channel_file(resolve_spec({**spec, "name": name}), raw_dir))
