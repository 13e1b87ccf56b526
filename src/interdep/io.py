"""Reading and writing tables the same way everywhere: codes kept as text, floats written reproducibly,
files replaced atomically so that a killed job never leaves a half-written output that looks complete."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

FLOAT_FORMAT = "%.10g"


def read_table(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV without pandas' NA guessing: only an empty field is missing.

    Namibia's ISO2 code "NA" and the word "None" stay text. Raises :class:`interdep.errors.InputError`
    naming the file when it is missing, empty, unparseable or cut off inside its last row.
    """
    from interdep.errors import InputError

    path = Path(path)
    if not path.exists():
        raise InputError("input file not found", file=str(path))
    if path.stat().st_size == 0:
        raise InputError("input file is empty", file=str(path))
    kwargs.setdefault("keep_default_na", False)
    kwargs.setdefault("na_values", [""])
    try:
        table = pd.read_csv(path, **kwargs)
    except UnicodeDecodeError as err:
        if "encoding" not in kwargs:
            _check_utf8(path)
        raise InputError(f"cannot parse table ({err})", file=str(path)) from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError, EOFError, OSError) as err:
        raise InputError(f"cannot parse table ({err})", file=str(path)) from err
    if "sep" not in kwargs and "delimiter" not in kwargs:
        _check_last_line(path, len(table))
    if "names" not in kwargs and kwargs.get("header", "infer") in ("infer", 0):
        _check_header(path, kwargs)
    return table


_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
         b"\xfe\xff": "UTF-16"}


def _check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8 (plain or with a byte-order mark), naming its encoding where a byte-order
    mark gives it away, else the first line that does not decode and the offending byte."""
    from interdep.errors import InputError

    with _open_bytes(path) as f:
        head = f.read(4)
        for bom, name in _BOMS.items():
            if head.startswith(bom):
                raise InputError(f"the file is {name} (byte-order mark), not UTF-8; save it as UTF-8",
                                 file=str(path), row=1, value=head.hex(" "))
        f.seek(0)
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                byte = line[err.start:err.start + 1]
                guess = "UTF-16 without a byte-order mark" if b"\x00" in line else "probably Latin-1 / Windows-1252"
                raise InputError(f"the file is not UTF-8 (byte 0x{byte.hex()} at position {err.start + 1} of this "
                                 f"line; {guess}); save it as UTF-8", file=str(path), row=number,
                                 value=line.decode("latin-1").rstrip("\r\n")[:80]) from None


def _open_bytes(path: Path):
    """The file's bytes, decompressed for .gz / .bz2 / .xz (other compressed kinds: as stored)."""
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
    return opener(path, "rb")


def _check_header(path: Path, kwargs: dict[str, Any]) -> None:
    """Refuse a header that names a column twice (pandas would rename the second ``x.1`` and use the first)."""
    from interdep.errors import InputError

    keys = ("sep", "delimiter", "encoding", "compression", "skiprows", "comment")
    passed = {k: kwargs[k] for k in keys if k in kwargs}
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, **passed).iloc[0].tolist()
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise InputError(f"column name {name!r} appears twice in the header", file=str(path), row=1,
                             value=header)
        seen.add(name)


COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst", ".tar")


def _check_last_line(path: Path, n_rows: int) -> None:
    """Refuse a plain CSV cut off inside its last row (pandas fills the missing fields with NaN silently).

    A file that ends without a line break and whose last line has fewer fields than the header was truncated
    (an interrupted copy or download). Compressed files fail in the decompressor instead.
    """
    from interdep.errors import InputError

    if path.suffix.lower() in COMPRESSED:
        return
    with open(path, "rb") as f:
        header = f.readline()
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - (1 << 16)))
        tail = f.read()
    if tail.endswith((b"\n", b"\r")) or len(header) >= size:
        return
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    n_header, n_last = _n_fields(header.decode("utf-8", errors="replace").rstrip("\r\n")), _n_fields(last)
    if n_last < n_header:
        raise InputError(f"the file ends inside a row: its last line has {n_last} of {n_header} fields "
                         "(truncated copy or download?)", file=str(path), row=n_rows + 1, value=last)


def _n_fields(line: str) -> int:
    return len(next(csv.reader([line]), []))


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write a CSV reproducibly (fixed float format, ``\\n`` line ends, no index), atomically."""
    atomic_write(path, lambda tmp: df.to_csv(tmp, index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON with sorted keys and a trailing newline, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text))


def write_text(text: str, path: str | Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
