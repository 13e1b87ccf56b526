"""The sources table (``data/sources.csv``) and the check that the raw files are present and unchanged.

Columns of the table: ``key`` (short name used in the config and code), ``path`` (expected path under
``raw_dir``), ``citation``, ``licence``, ``url`` (official page), ``sha256`` (of the file as distributed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from interdep.errors import InputError
from interdep.io import read_table, sha256

log = logging.getLogger(__name__)

COLUMNS = ["key", "path", "citation", "licence", "url", "sha256"]


def read_sources(sources_csv: str | Path) -> pd.DataFrame:
    """Read and check the sources table.

    Raises
    ------
    InputError
        When a column is missing, a key is duplicated or a field is empty.
    """
    df = read_table(sources_csv, dtype=str)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError("sources table lacks columns", file=str(sources_csv), value=missing)
    if df["key"].duplicated().any():
        raise InputError("duplicate source key", file=str(sources_csv), value=df["key"][df["key"].duplicated()].iloc[0])
    empty = df[COLUMNS].isna().any(axis=1)
    if empty.any():
        i = int(empty.to_numpy().nonzero()[0][0])
        raise InputError("empty field in sources table", file=str(sources_csv), row=i + 2, value=df["key"].iloc[i])
    return df[COLUMNS]


def resolve(raw_dir: str | Path, path: str | Path) -> Path:
    """A path from the config or the sources table: relative to ``raw_dir`` unless absolute."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else Path(raw_dir).expanduser() / path


def verify_sources(
    raw_dir: str | Path,
    sources_csv: str | Path,
    verify_checksums: bool = True,
    keys: Iterable[str] | None = None,
    files: Iterable[str | Path] | None = None,
    presence_only: bool = False,
) -> pd.DataFrame:
    """Check that each source file is present under ``raw_dir`` and (optionally) has the listed sha256.

    Parameters
    ----------
    raw_dir : path
        Folder holding the sources in the layout of the ``path`` column.
    sources_csv : path
        The sources table.
    verify_checksums : bool
        Compare sha256; when False a warning is logged (a newer release of a source is then accepted).
    keys : iterable of str, optional
        Only these sources (default: all rows of the table).
    files : iterable of paths, optional
        Only the rows whose file is one of these (the files a run reads); a file the table does not list
        (a user-supplied table) must exist and is reported with status ``not in sources table``.
    presence_only : bool
        Check presence only (cheap; the Snakefile does it before building the job graph).

    Returns
    -------
    pandas.DataFrame
        ``key, path, sha256, status`` with status ``ok`` or ``unchecked``.

    Raises
    ------
    InputError
        Listing every missing file (what to get and where) or every checksum mismatch, never a traceback
        from deep inside a reader.
    """
    table = read_sources(sources_csv)
    if keys is not None:
        keys = list(keys)
        unknown = sorted(set(keys) - set(table["key"]))
        if unknown:
            raise InputError("unknown source keys", file=str(sources_csv), value=unknown)
        table = table[table["key"].isin(keys)]
    extra: list[Path] = []
    if files is not None:
        wanted = {Path(f).resolve(): Path(f) for f in files}
        listed = table["path"].map(lambda p: resolve(raw_dir, p).resolve())
        table = table[listed.isin(wanted)]
        extra = [f for r, f in wanted.items() if r not in set(listed)]
        absent = [f for f in extra if not f.is_file()]
        if absent:
            raise InputError("input file not found", file=str(absent[0]))
    if presence_only:
        verify_checksums = True  # no warning: nothing is hashed here
    if not verify_checksums:
        log.warning("verify_checksums is false: the source files are NOT checked against the sha256 in %s; "
                    "results may differ from the documented release", sources_csv)
    missing = [r for r in table.itertuples() if not resolve(raw_dir, r.path).is_file()]
    if missing:
        lines = [f"  {r.key}: expected {resolve(raw_dir, r.path)}\n    get it from {r.url}\n    cite: {r.citation}"
                 for r in missing]
        raise InputError(f"{len(missing)} source file(s) missing under raw_dir={raw_dir}:\n" + "\n".join(lines),
                         file=str(sources_csv))
    if presence_only:
        return table[["key", "path"]].assign(sha256="", status="present")
    rows, bad = [], []
    for r in table.itertuples():
        path = resolve(raw_dir, r.path)
        digest = sha256(path) if verify_checksums else ""
        if verify_checksums and digest != r.sha256:
            bad.append(f"  {r.key}: {path}\n    sha256 {digest}\n    expected {r.sha256}")
        rows.append((r.key, r.path, digest, "ok" if verify_checksums else "unchecked"))
    if bad:
        raise InputError(
            f"{len(bad)} source file(s) differ from the documented release:\n" + "\n".join(bad)
            + "\n(a newer release? set verify_checksums: false to accept it; a warning is printed then)",
            file=str(sources_csv),
        )
    rows += [("", str(f), sha256(f), "not in sources table") for f in sorted(extra)]
    return pd.DataFrame(rows, columns=["key", "path", "sha256", "status"])
