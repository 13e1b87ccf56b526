"""Checks of the configuration beyond its JSON schema (config/schema.yaml): cross-references between
channels, models and tables, and where relative paths point. The schema itself is applied by the Snakefile."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from interdep.errors import InputError


def check_config(config: dict[str, Any], source: str = "config") -> None:
    """Raise :class:`InputError` naming the key and value of the first inconsistency found.

    Checked: model ids are unique; every model names known channels; a model's ``years`` are ordered; ``se``
    other than classical only for sar_ml / sdm_ml, and never ``cluster`` (refused with the reason);
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
        se = model.get("se", "classical")
        if se == "cluster":
            from interdep.models.panel_ml import CLUSTER_REFUSAL

            raise InputError(CLUSTER_REFUSAL, file=source, row=f"models[{index}].se", value=se)
        if se != "classical" and model.get("estimator") not in ("sar_ml", "sdm_ml"):
            raise InputError(f"se: {se} is available for sar_ml / sdm_ml only", file=source,
                             row=f"models[{index}].se", value=model.get("estimator"))
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
    The check is on the path as written: files under ``raw_dir`` may be symbolic links to elsewhere. ``~`` is
    expanded in both.
    """
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    normal = os.path.normpath(path)
    if normal == ".." or normal.startswith(".." + os.sep):
        raise InputError("relative path leaves raw_dir; give an absolute path to mean it", row=key, value=str(path))
    return raw_dir_path(raw_dir) / path


def raw_dir_path(raw_dir: str | Path) -> Path:
    """``raw_dir`` as a path, ``~`` expanded (the shell does not expand it inside a config file or ``--config``)."""
    return Path(raw_dir).expanduser()


# ------------------------------------------------------------------------------------------------ reading config files

#: Values a config may hold once YAML aliases are expanded (the shipped configs hold a few hundred); past this, a
#: file of a few lines can expand to billions ("billion laughs") and stall every tool that walks it.
MAX_CONFIG_VALUES = 100_000


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (or JSON) config file as plain data, refusing what would run code or explode.

    Refused, each with the line: a ``!!python/...`` tag (or any tag the safe loader does not know), aliases that
    expand the document past :data:`MAX_CONFIG_VALUES` values or refer to themselves, and ``__use_yte__`` (Snakemake
    evaluates YTE templates while it loads the file, before the Snakefile can check anything). The file's content is
    never printed whole.

    Raises
    ------
    InputError
        Naming the file, the line (``row``) and the tag, key or alias.
    """
    import yaml

    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read config file ({err})", file=file) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise InputError(f"config file is not valid YAML: {_first_line(err)}", file=file,
                         row=_line(getattr(err, "problem_mark", None))) from None
    if node is None:
        raise InputError("config file is empty", file=file)
    _check_nodes(node, file)
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "__use_yte__":
                raise InputError("config file asks Snakemake to evaluate it as a YTE template (__use_yte__), which "
                                 "runs code from the file; interdep configs are plain data: remove the key",
                                 file=file, row=_line(key.start_mark), value="__use_yte__")
    try:
        config = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 (SafeLoader)
    except yaml.YAMLError as err:
        raise InputError(f"config file is not valid YAML: {_first_line(err)}", file=file,
                         row=_line(getattr(err, "problem_mark", None))) from None
    if not isinstance(config, dict):
        raise InputError("config file must be a mapping of keys at the top level", file=file,
                         value=type(config).__name__)
    return config


def _line(mark: Any) -> str | None:
    return f"line {mark.line + 1}" if mark is not None else None


def _first_line(err: Exception) -> str:
    return " ".join(str(err).split())[:200]


def _check_nodes(root: Any, file: str) -> None:
    """Walk the composed YAML graph once per distinct node: refuse python tags, cycles and alias bombs."""
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise InputError("config file has an alias that refers to itself", file=file,
                             row=_line(node.start_mark))
        if node.tag.startswith("tag:yaml.org,2002:python/"):
            raise InputError("YAML tag not allowed in a config file (it would build Python objects)", file=file,
                             row=_line(node.start_mark), value="!!" + node.tag.removeprefix("tag:yaml.org,2002:"))
        active.add(key)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            _refuse_duplicate_keys(node, file)
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        active.discard(key)
        if total > MAX_CONFIG_VALUES:
            raise InputError(f"YAML aliases expand the config file to more than {MAX_CONFIG_VALUES:,} values",
                             file=file, row=_line(node.start_mark), value=total)
        sizes[key] = total
        return total

    size(root)


def _refuse_duplicate_keys(node: Any, file: str) -> None:
    """YAML loaders keep the last of two equal keys in a mapping and drop the first without a word: refuse."""
    seen: dict[str, Any] = {}
    for key, _ in node.value:
        if key.tag == "tag:yaml.org,2002:merge" or not hasattr(key, "value") or not isinstance(key.value, str):
            continue
        if key.value in seen:
            raise InputError(f"config file has the key {key.value!r} twice in one mapping (first on "
                             f"{_line(seen[key.value].start_mark)}); YAML would silently keep only the last",
                             file=file, row=_line(key.start_mark), value=key.value)
        seen[key.value] = key


def check_config_files(paths: Iterable[str | Path]) -> None:
    """:func:`load_config_file` on each file (the Snakefile and ``interdep`` run it on Snakemake's config files)."""
    for path in paths:
        load_config_file(path)


def check_schema(config: dict[str, Any], schema_path: str | Path, source: str = "config") -> None:
    """Validate ``config`` against the JSON schema; the first error becomes one line naming the key and what is
    allowed there (never the whole config or schema).

    Raises
    ------
    InputError
        ``row`` is the key path (``models[2].estimator``), ``value`` the offending value, shortened.
    """
    import jsonschema
    import yaml
    from jsonschema.exceptions import best_match

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    error = best_match(validator.iter_errors(config))
    if error is None:
        return
    key = _key_path(error.absolute_path)
    kind, expected = error.validator, error.validator_value
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        raise InputError(f"unknown key(s) {', '.join(map(repr, unknown))} in {key}; allowed: {', '.join(allowed)}",
                         file=source, row=key, value=unknown[0] if len(unknown) == 1 else unknown)
    if kind == "enum":
        what = f"is not one of {expected}"
    elif kind == "required":
        raise InputError(f"{error.message} in {key}", file=source, row=key)
    elif kind == "type":
        what = f"is not of type {expected!r}"
    else:
        what = f"fails {kind} {_short(expected)}"
    raise InputError(f"config value {what} (config/schema.yaml)", file=source, row=key, value=_short(error.instance))


def _key_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _short(value: Any, limit: int = 80) -> Any:
    """A value as given when short, else its repr cut to ``limit`` characters."""
    text = repr(value)
    return value if len(text) <= limit else text[: limit - 3] + "..."
