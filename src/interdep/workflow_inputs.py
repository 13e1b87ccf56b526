"""Which source files each rule reads, so that Snakemake tracks them (a changed source reruns exactly the jobs
that read it) and provenance.json hashes them. Used by rules/common.smk only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interdep.config import resolve_source


def panel_source_files(options: dict[str, Any], raw_dir: str | Path) -> list[str]:
    """Source files of the panel stage."""
    if options["source"] == "demo":
        return [str(resolve_source(raw_dir, options.get("file", "panel.csv"), key="panel.file"))]
    from interdep.panel.real import source_files

    return sorted(str(p) for p in source_files(Path(raw_dir), options))


def channel_source_files(spec: dict[str, Any], raw_dir: str | Path) -> list[str]:
    """Source files of one channel."""
    if spec["type"] == "dyads":
        return [str(resolve_source(raw_dir, spec["file"], key="channels.file"))]
    from interdep.weights.channels import source_files

    return sorted(str(p) for p in source_files(spec, Path(raw_dir)))
