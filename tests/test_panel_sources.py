"""The sources table and the presence / checksum check of the raw files."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from interdep.errors import InputError
from interdep.panel.real import DEFAULT_FILES
from interdep.panel.sources import read_sources, resolve, verify_sources

REPO = Path(__file__).resolve().parents[1]
HEADER = "key,path,citation,licence,url,sha256\n"


def _table(tmp_path: Path, content: bytes = b"a,b\n1,2\n") -> tuple[Path, Path]:
    raw = tmp_path / "raw"
    (raw / "x").mkdir(parents=True)
    (raw / "x" / "f.csv").write_bytes(content)
    digest = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    csv = tmp_path / "sources.csv"
    csv.write_text(HEADER + f"f,x/f.csv,Someone 2020,CC BY 4.0,https://example.org/f,{digest}\n")
    return raw, csv


def test_project_sources_table_covers_the_panel_inputs():
    table = read_sources(REPO / "data" / "sources.csv")
    assert table["key"].is_unique and table["path"].is_unique
    assert table["sha256"].str.fullmatch("[0-9a-f]{64}").all()
    by_key = dict(zip(table["key"], table["path"], strict=True))
    for key, path in DEFAULT_FILES.items():
        assert by_key[key] == path


def test_verify_ok(tmp_path):
    raw, csv = _table(tmp_path)
    out = verify_sources(raw, csv)
    assert out["status"].tolist() == ["ok"]


def test_missing_file_says_what_and_where(tmp_path):
    raw, csv = _table(tmp_path)
    (raw / "x" / "f.csv").unlink()
    with pytest.raises(InputError, match=r"missing[\s\S]*x/f.csv[\s\S]*https://example.org/f"):
        verify_sources(raw, csv)


def test_checksum_mismatch_and_switch_off(tmp_path, caplog):
    raw, csv = _table(tmp_path, content=b"a,b\n1,3\n")
    with pytest.raises(InputError, match="differ from the documented release"):
        verify_sources(raw, csv)
    with caplog.at_level(logging.WARNING):
        out = verify_sources(raw, csv, verify_checksums=False)
    assert out["status"].tolist() == ["unchecked"]
    assert "verify_checksums is false" in caplog.text


def test_unknown_key_and_bad_table(tmp_path):
    raw, csv = _table(tmp_path)
    with pytest.raises(InputError, match="unknown source keys"):
        verify_sources(raw, csv, keys=["nope"])
    bad = tmp_path / "bad.csv"
    bad.write_text("key,path\nf,x/f.csv\n")
    with pytest.raises(InputError, match="lacks columns"):
        read_sources(bad)


def test_resolve_relative_and_absolute(tmp_path):
    assert resolve("/raw", "a/b.csv") == Path("/raw/a/b.csv")
    assert resolve("/raw", tmp_path) == tmp_path
