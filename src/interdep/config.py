"""Checks of the configuration beyond its JSON schema (config/schema.yaml): cross-references between
channels, models and tables, and where relative paths point. The schema itself is applied by the Snakefile."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from interdep.errors import InputError


def check_config(config: dict[str, Any], source: str = "config") -> None:
    """Raise :class:`InputError` naming the key and value of the first inconsistency found.

    Checked: model ids are unique; every model names known channels; a model's ``years`` are ordered;
    every table lists known models; the truth model exists.
    """
    channels = set(config.get("channels", {}))
    ids = [m["id"] for m in config.get("models", [])]
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    if duplicated:
        raise InputError("model id used twice", file=source, row="models[].id", value=duplicated[0])
    for index, model in enumerate(config.get("models", [])):
        for channel in model.get("weights", []):
            if channel not in channels:
                raise InputError(
                    f"model {model['id']!r} names an unknown channel (known: {', '.join(sorted(channels))})",
                    file=source, row=f"models[{index}].weights", value=channel,
                )
        years = model.get("years", [])
        if len(years) == 2 and years[0] > years[1]:
            raise InputError("years must be [first, last]", file=source, row=f"models[{index}].years", value=years)
    outputs = config.get("outputs", {}) or {}
    for table, members in (outputs.get("tables") or {}).items():
        for model_id in members:
            if model_id not in ids:
                raise InputError("table names an unknown model", file=source, row=f"outputs.tables.{table}",
                                 value=model_id)
    for channel in (outputs.get("channel_choice") or {}).get("channels", []):
        if channel not in channels:
            raise InputError(f"unknown channel (known: {', '.join(sorted(channels))})", file=source,
                             row="outputs.channel_choice.channels", value=channel)
    if outputs.get("truth_model") and outputs["truth_model"] not in ids:
        raise InputError("unknown model", file=source, row="outputs.truth_model", value=outputs["truth_model"])


def resolve_source(raw_dir: str | Path, path: str | Path, key: str = "file") -> Path:
    """A source path from the config: absolute as given (the user chose it), else under ``raw_dir``.

    A relative path may not climb out of ``raw_dir`` (``..``): the config cannot reach other files by accident.
    The check is on the path as written: files under ``raw_dir`` may be symbolic links to elsewhere.
    """
    path = Path(path)
    if path.is_absolute():
        return path
    normal = os.path.normpath(path)
    if normal == ".." or normal.startswith(".." + os.sep):
        raise InputError("relative path leaves raw_dir; give an absolute path to mean it", row=key, value=str(path))
    return Path(raw_dir) / path
