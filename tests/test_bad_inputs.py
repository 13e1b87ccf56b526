"""The corpus of bad inputs: each is written by the test from the real sources (../shared/data) or the demo files,
run through the stage that reads it, and must stop it with exit status 1, one message naming the file, the row or
key and the value, and no output of the failing stage.

Unit cases run the stage as its Snakemake script does (inside :func:`interdep.workflow.logged`, writing with the
atomic writers); a representative subset runs the whole ``snakemake`` in a clone of a completed small demo run
(tests/test_faults.py), where the failing job's earlier outputs exist and must be removed by the failure.

Cases checked elsewhere and not repeated here: a misspelt config key (tests/test_config.py and
tests/test_workflow.py::test_config_typo_stops_before_any_output), unknown estimator or channel in a model spec and
time-invariant regressors under unit effects (tests/test_models_fit.py), mirrored user dyads and duplicated dyads
(tests/test_weights_channels.py, tests/test_weights_graphs.py), checksum switch-off (tests/test_panel_sources.py).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from interdep.config import check_schema, load_config_file, raw_dir_path, resolve_source
from interdep.errors import EstimationError, InputError
from interdep.io import read_table, write_json, write_table
from interdep.models.fit import fit_model
from interdep.outputs.tables import regression_table
from interdep.panel.build import build_panel, dropped_summary, dropped_table, states_by_year
from interdep.panel.real import source_files
from interdep.panel.sources import verify_sources
from interdep.weights.channels import build_channel
from interdep.weights.graphs import graphs_to_edge_list
from interdep.workflow import logged

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
SOURCES_CSV = REPO / "data" / "sources.csv"
IPI = "ipi_peacekeeping/ipi_tcc_country_month_totals_1990_2014.csv"
IPI_NAMIBIA_LINE = 15301  # "1996-01-31,Namibia,199.0,,"


@dataclass(frozen=True)
class Case:
    """One bad input: ``make(tmp, raw)`` writes it and returns the stage to run (a function returning the frame or
    mapping the stage would write); the message must contain every fragment."""

    id: str
    make: Callable[[Path, Path | None], Callable[[], Any]]
    fragments: tuple[str, ...]
    error: type[Exception] = InputError
    real: bool = False  # needs ../shared/data


# ------------------------------------------------------------------------------------------------ writers


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path


def _ipi_panel(edit: Callable[[list[str]], list[str]], **options: Any):
    """The real panel stage with an edited copy of the IPI country-month file."""

    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:
        assert raw is not None
        bad = _write(tmp / "ipi.csv", edit(_lines(raw / IPI)))
        opts = {"source": "ipi", "years": [1990, 2014], "files": {"ipi_country_month": str(bad)}, **options}
        return lambda: build_panel(opts, raw)[0]

    return make


def _replace(line: int, old: str, new: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        assert old in lines[line - 1], lines[line - 1]
        lines[line - 1] = lines[line - 1].replace(old, new, 1)
        return lines

    return edit


def _demo_panel(edit: Callable[[list[str]], list[str]]):
    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:  # noqa: ARG001
        bad = _write(tmp / "panel.csv", edit(_lines(DEMO / "panel.csv")))
        return lambda: build_panel({"source": "demo", "file": str(bad)})[0]

    return make


def _demo_cell(line: int, column: str, value: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        header = lines[0].rstrip("\n").split(",")
        cells = lines[line - 1].rstrip("\n").split(",")
        cells[header.index(column)] = value
        lines[line - 1] = ",".join(cells) + "\n"
        return lines

    return edit


def _demo_ids() -> dict[int, list[int]]:
    return states_by_year(read_table(DEMO / "panel.csv"))


def _demo_channel(edit: Callable[[list[str]], list[str]] | None, **spec: Any):
    """The weights stage of the demo contiguity channel, on an edited copy of its dyad file."""

    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:  # noqa: ARG001
        src = DEMO / "contiguity.csv"
        path = _write(tmp / "contiguity.csv", edit(_lines(src))) if edit else src
        full = {"name": "contiguity", "type": "dyads", "file": str(path), **spec}
        return lambda: graphs_to_edge_list(build_channel(full, _demo_ids(), path.parent))

    return make


def _insert(line: int, text: str) -> Callable[[list[str]], list[str]]:
    return lambda lines: lines[: line - 1] + [text] + lines[line - 1 :]


def _real_channel(spec: dict[str, Any], file: str | None = None, cut: float | None = None):
    """A real channel's weights stage; with ``cut``, on a copy of its source cut to that fraction of its bytes."""

    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:
        assert raw is not None
        full = dict(spec)
        if file is not None:
            data = (raw / file).read_bytes()
            bad = tmp / Path(file).name
            bad.write_bytes(data[: int(len(data) * cut)] if cut is not None else data)
            full["file"] = str(bad)
        return lambda: graphs_to_edge_list(build_channel(full, {2000: _demo_ids()[2000]}, raw))

    return make


def _verify(file: str, mutate: Callable[[bytes], bytes] | None, presence_only: bool = False):
    """The verify_sources stage on a raw folder holding one (changed or absent) copy of a real source."""

    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:
        assert raw is not None
        raw_copy = tmp / "raw"
        target = raw_copy / file
        if mutate is not None:
            target.parent.mkdir(parents=True)
            target.write_bytes(mutate((raw / file).read_bytes()))
        return lambda: verify_sources(raw_copy, SOURCES_CSV, files=[target], presence_only=presence_only)

    return make


def _flip_byte(data: bytes) -> bytes:
    i = data.index(b"\n") + 1
    return data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :]


def _table_panel(rows: str, code: str):
    """The panel stage with a user contributions table (source: table)."""

    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:
        assert raw is not None
        path = _write(tmp / "contrib.csv", [rows])
        spec = {"file": str(path), "country_column": "country", "country_code": code, "year_column": "year",
                "value_columns": {"troops": "troops"}}
        return lambda: build_panel({"source": "table", "years": [2000, 2001], "contributions": spec}, raw)[0]

    return make


def _model(change: dict[str, Any], panel_edit: Callable[[pd.DataFrame], pd.DataFrame] | None = None):
    """The fit_model stage on the demo panel and contiguity graphs."""

    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:  # noqa: ARG001
        panel = read_table(DEMO / "panel.csv")
        if panel_edit is not None:
            panel = panel_edit(panel)
        spec = {"id": "bad", "estimator": "sar_ml", "weights": ["contiguity"], "outcome": "log_contrib",
                "regressors": ["log_gdppc", "log_pop", "polity2"], "years": [2014], "effects": "none", **change}
        return lambda: fit_model(spec, panel, _demo_graphs(), seed=1).fit

    return make


_GRAPHS: dict[str, Any] = {}


def _demo_graphs() -> dict[str, Any]:
    if not _GRAPHS:
        spec = {"name": "contiguity", "type": "dyads", "file": str(DEMO / "contiguity.csv")}
        _GRAPHS["contiguity"] = build_channel(spec, _demo_ids(), DEMO)
    return _GRAPHS


def _escape(kind: str):
    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:  # noqa: ARG001
        raw_dir = tmp / "raw"
        raw_dir.mkdir()
        if kind == "channel":
            spec = {"name": "trade", "type": "dyads", "file": "../../etc/passwd"}
            return lambda: build_channel(spec, {2000: [2, 20]}, raw_dir)
        if kind == "panel.files":
            return lambda: source_files(raw_dir, {"source": "ipi", "files": {"cow_states": "../../../etc/passwd"}})
        return lambda: resolve_source(raw_dir, "sub/../../x.csv", key="outputs.capitals")

    return make


def _table_bytes(data: bytes, time: str = "year", **options: Any):
    """The panel stage with a user contributions table given as bytes (encodings), by year or by date."""

    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:
        assert raw is not None
        path = tmp / "contrib.csv"
        path.write_bytes(data)
        spec = {"file": str(path), "country_column": "country", "country_code": options.pop("code", "name"),
                f"{time}_column": time, "value_columns": {"troops": "troops"}}
        opts = {"source": "table", "years": [2000, 2000], "contributions": spec, "covariates": ["p5"], **options}
        return lambda: build_panel(opts, raw)[0]

    return make


def _islands_only(panel: pd.DataFrame) -> pd.DataFrame:
    """The demo panel with 2014 cut to the states without a contiguity link that year (every one an island)."""
    g = _demo_graphs()["contiguity"][2014]
    degree = np.asarray(g.sparse.sum(axis=1)).ravel()
    islands = [c for c, d in zip(g.unique_ids, degree, strict=True) if d == 0]
    return panel[(panel["year"] != 2014) | panel["ccode"].isin(islands)]


def _config_file(text: str):
    """Reading a config file as the Snakefile and ``interdep`` do."""

    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:  # noqa: ARG001
        path = _write(tmp / "bad.yaml", [text])
        return lambda: load_config_file(path)

    return make


def _alias_bomb(depth: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth + 1)]
    return "\n".join(["dataset: demo", *lines, f"raw_dir: *a{depth}"]) + "\n"


def _schema(edit: Callable[[dict], None]):
    def make(tmp: Path, raw: Path | None) -> Callable[[], Any]:  # noqa: ARG001
        config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        edit(config)
        return lambda: check_schema(config, REPO / "config" / "schema.yaml", source="bad.yaml")

    return make


# ------------------------------------------------------------------------------------------------ the corpus

CASES = [
    # contributions (real IPI file)
    Case("unknown country name", _ipi_panel(_replace(6, "Albania", "Freedonia")),
         ("country name not in the curated table", "ipi.csv", "row: 6", "'Freedonia'"), real=True),
    Case("duplicated country-month", _ipi_panel(lambda ls: ls[:10] + [ls[9]] + ls[10:]),
         ("duplicate key (ccode 339, 1995-06)", "ipi.csv", "row: 10", "['Albania']"), real=True),
    Case("negative count", _ipi_panel(_replace(IPI_NAMIBIA_LINE, "199.0", "-199.0")),
         ("negative count in column 'Troops'", "ipi.csv", f"row: {IPI_NAMIBIA_LINE}", "value: -199.0"), real=True),
    Case("non-numeric count", _ipi_panel(_replace(IPI_NAMIBIA_LINE, "199.0", "19x")),
         ("non-numeric count in column 'Troops'", "ipi.csv", f"row: {IPI_NAMIBIA_LINE}", "'19x'"), real=True),
    Case("Namibia's ISO2 NA in an ISO3 column", _table_panel("country,year,troops\nNAM,2000,5\nNA,2001,7\n", "iso3"),
         ("ISO3 code not in countries.csv", "contrib.csv", "row: 3", "value: 'NA'"), real=True),
    Case("panel years outside the source", _ipi_panel(lambda ls: ls, years=[1985, 2014]),
         ("does not cover", "source covers 1990-2014", "ipi.csv", "row: panel.years", "[1985, 2014]"), real=True),
    Case("channel year outside the source (lag)", _real_channel({"name": "land", "type": "contiguity", "lag": 300}),
         ("source covers years 1816-2016", "contdird_v3_2.csv", "[1700]"), real=True),
    # files
    Case("empty source file", _ipi_panel(lambda _: []), ("input file is empty", "ipi.csv"), real=True),
    Case("header-only source file", _ipi_panel(lambda ls: ls[:1]),
         ("header but no rows", "ipi.csv", "['Date', 'Contributor', 'Troops', 'Police', 'Experts']"), real=True),
    Case("truncated source file (csv)",
         _ipi_panel(lambda ls: ls[: IPI_NAMIBIA_LINE - 1] + [ls[IPI_NAMIBIA_LINE - 1][:22]]),
         ("ends inside a row", "3 of 5 fields", "ipi.csv", f"row: {IPI_NAMIBIA_LINE}", "'1996-01-31,Namibia,199'"),
         real=True),
    Case("truncated source file (gzip)",
         _real_channel({"name": "igo", "type": "igo"}, "cow_igo/cow_igo_ndy_peacesciencer.csv.gz", cut=0.5),
         ("cannot parse table", "Compressed file ended", "cow_igo_ndy_peacesciencer.csv.gz"), real=True),
    Case("truncated demo panel", _demo_panel(lambda ls: ls[:100] + [ls[99][:30]]),
         ("ends inside a row", "7 of 13 fields", "panel.csv", "row: 101"), real=False),
    Case("missing source file", _verify("cow_states/states2016.csv", None, presence_only=True),
         ("1 source file(s) missing", "cow_states: expected", "states2016.csv", "get it from http", "sources.csv"),
         real=True),
    Case("checksum mismatch", _verify("cow_states/states2016.csv", _flip_byte),
         ("1 source file(s) differ from the documented release", "cow_states", "states2016.csv", "expected",
          "sources.csv"), real=True),
    # demo panel
    Case("duplicated state-year (demo panel)", _demo_panel(lambda ls: ls[:3] + [ls[2]] + ls[3:]),
         ("duplicate (ccode, year)", "panel.csv", "row: 3", "(2, 1996)")),
    Case("negative count (demo panel)", _demo_panel(_demo_cell(5, "contrib_total", "-5")),
         ("contrib_total must be a non-negative number", "panel.csv", "row: 5", "value: -5")),
    Case("non-numeric count (demo panel)", _demo_panel(_demo_cell(5, "contrib_total", "many")),
         ("contrib_total must be a non-negative number", "panel.csv", "row: 5", "'many'")),
    Case("missing ccode (demo panel)", _demo_panel(_demo_cell(7, "ccode", "")),
         ("ccode is missing or not an integer", "panel.csv", "row: 7")),
    # weights
    Case("dyad self link", _demo_channel(_insert(4, "2,2,1995,1\n")),
         ("self link", "contiguity.csv", "row: 4", "(2, 2)")),
    Case("dyad code not in the panel", _demo_channel(_insert(4, "2,999,1995,1\n")),
         ("not among the panel's states that year", "contiguity.csv", "row: 4", "(2, 999)")),
    Case("dyad non-numeric weight", _demo_channel(_replace(3, "2,40,1995,1", "2,40,1995,one")),
         ("finite, non-negative weights", "contiguity.csv", "row: 3", "'one'")),
    Case("header-only dyad file", _demo_channel(lambda ls: ls[:1]),
         ("header but no rows", "contiguity.csv", "['ccode1', 'ccode2', 'year', 'value']")),
    Case("island where the config forbids islands", _demo_channel(None, islands="fail"),
         ("islands", "islands: fail", "contiguity.csv", "row: channels.contiguity.islands, year 1995",
          "value: [31, 51")),
    # config paths
    Case("channel file leaving raw_dir", _escape("channel"),
         ("relative path leaves raw_dir", "row: channels.trade.file", "'../../etc/passwd'")),
    Case("panel.files entry leaving raw_dir", _escape("panel.files"),
         ("relative path leaves raw_dir", "row: panel.files.cow_states", "'../../../etc/passwd'")),
    Case("outputs path leaving raw_dir", _escape("outputs"),
         ("relative path leaves raw_dir", "row: outputs.capitals", "'sub/../../x.csv'")),
    # models
    Case("perfectly collinear regressors", _model({"regressors": ["log_gdppc", "log_pop", "combo"]},
                                                 lambda p: p.assign(combo=2 * p["log_gdppc"] - p["log_pop"])),
         ("model 'bad'", "perfectly collinear", "combo"), error=EstimationError),
    Case("same regressor twice", _model({"regressors": ["log_gdppc", "log_gdppc"]}),
         ("model 'bad'", "perfectly collinear", "log_gdppc"), error=EstimationError),
    Case("outcome zero everywhere", _model({"outcome": "contrib_total"}, lambda p: p.assign(contrib_total=0)),
         ("model 'bad'", "outcome 'contrib_total' is constant", "value: 0")),
    Case("regressor not in the panel", _model({"regressors": ["log_gdppc", "gdp_pc"]}),
         ("model 'bad'", "column 'gdp_pc' not in the panel", "value: 'gdp_pc'")),
    Case("outcome not in the panel", _model({"outcome": "log_contrb"}),
         ("model 'bad'", "column 'log_contrb' not in the panel", "panel columns: ccode, iso3, year",
          "value: 'log_contrb'")),
    # issue 14: contributions that cannot be placed, values past a bound, headers, encodings, dates
    Case("contribution of a state outside the system that year", _table_bytes(b"country,year,troops\n"
                                                                               b"452,2000,5\n260,2000,10\n",
                                                                               code="ccode"),
         ("contribution cannot be placed in the panel", "COW code 260 is not a state of the COW system in 2000",
          "panel.nonmember: drop", "contrib.csv", "row: 3", "value: '260, 2000, 10 personnel'"), real=True),
    Case("personnel under a name the name table excludes",
         _table_bytes(b"country,year,troops\nGhana,2000,5\nTotal,2000,5\n"),
         ("contribution cannot be placed", "name excluded by country_names.csv", "contrib.csv", "row: 3",
          "value: 'Total, 2000, 5 personnel'"), real=True),
    Case("infinite count", _table_bytes(b"country,year,troops\nGhana,2000,5\nGhana,2001,inf\n"),
         ("count in column 'troops' is infinite or above the bound of 10,000,000", "contrib.csv", "row: 3",
          "value: inf"), real=True),
    Case("count of 1e308", _table_bytes(b"country,year,troops\nGhana,2000,1e308\n"),
         ("infinite or above the bound", "contrib.csv", "row: 2", "value: 1e+308"), real=True),
    Case("count above 10 million", _table_bytes(b"country,year,troops\nGhana,2000,5\nGhana,2001,20000000\n"),
         ("above the bound of 10,000,000 personnel", "contrib.csv", "row: 3", "value: 20000000.0"), real=True),
    Case("infinite count (demo panel)", _demo_panel(_demo_cell(5, "contrib_total", "inf")),
         ("contrib_total must be a non-negative number (finite, at most 10,000,000)", "panel.csv", "row: 5",
          "value: inf")),
    Case("duplicated column name", _table_bytes(b"country,year,troops,troops\nGhana,2000,5,7\n"),
         ("column name 'troops' appears twice in the header", "contrib.csv", "row: 1",
          "['country', 'year', 'troops', 'troops']"), real=True),
    Case("Latin-1 file", _table_bytes("country,year,troops\nGhana,2000,5\nCôte d'Ivoire,2000,7\n".encode("latin-1")),
         ("not UTF-8", "byte 0xf4", "Latin-1", "save it as UTF-8", "contrib.csv", "row: 3",
          "value: \"Côte d'Ivoire,2000,7\""), real=True),
    Case("UTF-16 file", _table_bytes("country,year,troops\nGhana,2000,5\n".encode("utf-16")),
         ("the file is UTF-16 (byte-order mark), not UTF-8", "contrib.csv", "row: 1", "value: 'ff fe"), real=True),
    Case("dates with mixed time zones",
         _table_bytes(b"country,date,troops\nGhana,2000-01-31T23:00:00+00:00,5\nGhana,2000-02-29T23:00:00-05:00,5\n",
                      time="date"),
         ("dates with different time zones", "+00:00", "-05:00", "contrib.csv", "row: 3",
          "value: '2000-02-29T23:00:00-05:00'"), real=True),
    Case("fewer observations than coefficients",
         _model({}, lambda p: p[(p["year"] != 2014) | p["ccode"].isin([2, 20, 70])]),
         ("model 'bad'", "3 observation(s) in 2014-2014 for 4 coefficient(s)", "const, log_gdppc, log_pop, polity2",
          "more years or states"), error=EstimationError),
    *[Case(f"every state an island ({est})", _model({"estimator": est}, _islands_only),
           ("model 'bad'", "weights channel 'contiguity' has no links among the sample's 15 states in 2014-2014",
            "every state is an island", "use another channel"), error=EstimationError)
      for est in ("sar_ml", "sar_gmm", "sac", "sem_ml", "ols")],
    # config files (what the Snakefile and `interdep` read before anything runs)
    Case("YAML alias bomb", _config_file(_alias_bomb()),
         ("YAML aliases expand the config file to more than 100,000 values", "bad.yaml", "row: line")),
    Case("python tag in a config", _config_file("dataset: demo\nraw_dir: !!python/name:os.system\n"),
         ("YAML tag not allowed", "bad.yaml", "row: line 2", "value: '!!python/name:os.system'")),
    Case("python apply tag in a config",
         _config_file('dataset: demo\nraw_dir: !!python/object/apply:os.system ["touch pwned"]\n'),
         ("YAML tag not allowed", "bad.yaml", "row: line 2", "value: '!!python/object/apply:os.system'")),
    Case("duplicate key in a config",
         _config_file("dataset: demo\nmodels:\n  - id: m\n    label: First\n    estimator: ols\n    label: Second\n"),
         ("key 'label' twice in one mapping", "first on line 4", "bad.yaml", "row: line 6", "value: 'label'")),
    Case("YTE template in a config", _config_file("dataset: demo\n__use_yte__: true\nraw_dir: ?'x'\n"),
         ("YTE template (__use_yte__)", "runs code", "bad.yaml", "row: line 2", "value: '__use_yte__'")),
    Case("schema: unknown estimator", _schema(lambda c: c["models"][0].update(estimator="sar_mle")),
         ("is not one of ['ols', 'slx'", "bad.yaml", "row: models[0].estimator", "value: 'sar_mle'")),
    Case("schema: misspelt key", _schema(lambda c: c["models"][0].update(regresors=["x"])),
         ("unknown key(s) 'regresors' in models[0]; allowed: ", "wx_regressors, years", "row: models[0]",
          "value: 'regresors'")),
    Case("schema: a long wrong value is cut", _schema(lambda c: c.update(channels=list(range(10_000)))),
         ("is not of type 'object'", "row: channels", "...'")),
]


@pytest.fixture(scope="module")
def raw() -> Path | None:
    path = Path(os.environ.get("INTERDEP_RAW_DIR", REPO.parent / "shared" / "data"))
    return path if path.is_dir() else None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_stops_the_stage_with_one_message_and_no_output(case, raw, tmp_path, capsys):
    if case.real and raw is None:
        if os.environ.get("CI") == "true":
            pytest.fail("raw sources not found (required under CI=true)")
        pytest.skip("raw sources (../shared/data or $INTERDEP_RAW_DIR) not found")
    stage = case.make(tmp_path, raw)
    output = tmp_path / "results" / "out.csv"
    with pytest.raises(SystemExit) as stop, logged(tmp_path / "logs" / "stage.log"):
        result = stage()
        if isinstance(result, pd.DataFrame):
            write_table(result, output)
        else:
            write_json(result, output)
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.count("interdep: ") == 1 and err.startswith(f"interdep: {case.error.__name__}: "), err
    for fragment in case.fragments:
        assert fragment in err, (fragment, err)
    assert not output.exists()
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
    assert "ERROR: " in (tmp_path / "logs" / "stage.log").read_text()


def test_namibia_stays_na_when_read(tmp_path):
    """The trap behind the NA case: pandas' default reader turns Namibia's ISO2 code into a missing value."""
    path = _write(tmp_path / "iso2.csv", ["iso2,ccode\nNA,565\nNE,436\n"])
    assert pd.read_csv(path)["iso2"].isna().sum() == 1  # the trap
    assert read_table(path)["iso2"].tolist() == ["NA", "NE"]


# ------------------------------------------------------------------------------------- accepted, or dropped when told


def _needs(raw: Path | None) -> Path:
    if raw is None:
        if os.environ.get("CI") == "true":
            pytest.fail("raw sources not found (required under CI=true)")
        pytest.skip("raw sources (../shared/data or $INTERDEP_RAW_DIR) not found")
    return raw


def test_zero_personnel_for_a_name_that_is_no_state_that_year_is_accepted_and_never_mapped(raw, tmp_path):
    """RADPKO reshaped from wide to long lists Montenegro with zeros before 2006: zero is not a contribution."""
    rows = (b"country,year,troops\nMontenegro,2000,0\nSerbia and Montenegro,2000,0\nSerbia,2000,12\n"
            b"Korea,2000,0\nGhana,2000,5\n")
    panel = _table_bytes(rows)(tmp_path, _needs(raw))()
    by = panel.set_index(["ccode", "year"])["troops"]
    assert by[(345, 2000)] == 12 and by[(452, 2000)] == 5  # Serbia keeps its own value, nothing added
    assert (341, 2000) not in by.index and (730, 2000) not in by.index  # Montenegro, old Korea: no state in 2000
    assert by.sum() == 17 and panel.attrs["dropped"] == []


def test_nonmember_drop_gives_a_complete_panel_and_lists_each_dropped_row(raw, tmp_path):
    rows = b"country,year,troops\n452,2000,5\n260,2000,10\n2,2000,0\n"
    panel = _table_bytes(rows, code="ccode", nonmember="drop")(tmp_path, _needs(raw))()
    assert panel.groupby("year")["ccode"].size().loc[2000] > 150 and panel["troops"].sum() == 5
    dropped = dropped_table(panel)
    assert dropped[["row", "country", "year", "troops"]].values.tolist() == [[3, "260", 2000, 10.0]]
    assert dropped["reason"].item() == "COW code 260 is not a state of the COW system in 2000"
    assert dropped["file"].item().endswith("contrib.csv")
    write_table(dropped, tmp_path / "dropped.csv")
    assert dropped_summary(tmp_path / "dropped.csv").startswith(
        "interdep: 1 contribution row(s) with 10 personnel dropped under panel.nonmember: drop, 2000-2000")


def test_report_lists_the_dropped_rows(tmp_path):
    from interdep.outputs.report import SECTIONS, Report, section_dropped

    def report(dropped):
        return Report(dataset="x", table_names=[], figure_names=[], tables_dir=tmp_path, figures_dir=tmp_path,
                      fits=[], provenance={}, dropped=dropped)

    dropped = pd.DataFrame([{"file": "un.csv", "row": 3, "country": "260", "year": 2000, "contrib_total": 10.0,
                             "reason": "COW code 260 is not a state of the COW system in 2000"}])
    section = section_dropped(report(dropped))
    assert "Contributions dropped: 1 row(s), 10 personnel" in section and "not a state of the COW system" in section
    assert "Made by rule <code>panel</code>" in section and "panel.nonmember" in section
    assert section_dropped(report(None)) == ""  # no section (and no contents entry) when nothing is dropped
    assert any(fn is section_dropped for _, _, fn in SECTIONS)


@pytest.mark.parametrize("error", [np.linalg.LinAlgError("Singular matrix"), Exception("H'H singular - no inverse")])
def test_singular_system_inside_spreg_becomes_one_message(monkeypatch, error, tmp_path, capsys):
    """What spreg raises on a singular system (numpy's LinAlgError, its own bare Exception) names the model."""
    from interdep.models import fit

    def singular(*_args, **_kwargs):
        raise error

    monkeypatch.setitem(fit._CROSS_SECTION, "sem_ml", singular)
    stage = _model({"estimator": "sem_ml"})(tmp_path, None)
    with pytest.raises(SystemExit) as stop, logged(tmp_path / "stage.log"):
        stage()
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("interdep: EstimationError: model 'bad': sem_ml found a singular system")
    assert str(error) in err
    assert "weights/<channel>_summary.csv" in err and err.count("\n") == 1
    assert "Traceback" in (tmp_path / "stage.log").read_text()  # the original error is kept in the log


def test_raw_dir_with_a_tilde_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert raw_dir_path("~/data") == tmp_path / "data"
    assert resolve_source("~/data", "cow/states.csv") == tmp_path / "data" / "cow" / "states.csv"
    assert resolve_source("/elsewhere", "~/mine.csv") == tmp_path / "mine.csv"
    from interdep.panel.sources import resolve

    assert resolve("~/data", "x.csv") == tmp_path / "data" / "x.csv"


# ------------------------------------------------------------------------------------------------ estimation flags


def test_lambda_at_the_search_bound_is_flagged_and_marked_in_the_tables():
    """SEM on an outcome that equals its spatial lag: lambda runs to the bound; fit.json and the table say so."""
    panel = read_table(DEMO / "panel.csv")
    panel["edge"] = _component_outcome(panel)
    spec = {"id": "edge", "estimator": "sem_ml", "weights": ["contiguity"], "outcome": "edge",
            "regressors": ["log_gdppc", "log_pop", "polity2"], "years": [2014], "effects": "none"}
    res = fit_model(spec, panel, _demo_graphs(), seed=1)
    assert res.fit["converged"] is False
    assert "bound" in res.fit["message"]
    table = regression_table({"edge": (res.fit, res.estimate.coefficients())}, ["edge"], {})
    assert table.loc[table[""] == "Converged", "edge"].item() == "NO"


@pytest.mark.parametrize("estimator", ["sar_gmm", "sac"])
def test_gmm_estimate_at_the_edge_of_the_interval_is_flagged(estimator):
    """GMM has no admissible region of its own: an estimate outside or at the edge of the interval given by
    W's eigenvalues (or at the edge of spreg's search, for SAC's lambda) is marked not converged, with the reason."""
    from interdep.models.design import build_design
    from interdep.models.panel_ml import at_bound, channel_bounds

    panel = read_table(DEMO / "panel.csv")
    panel["edge"] = _component_outcome(panel, islands_zero=estimator != "sar_gmm")
    spec = {"id": "edge", "estimator": estimator, "weights": ["contiguity"], "outcome": "edge",
            "regressors": ["log_gdppc", "log_pop", "polity2"], "years": [2014], "effects": "none"}
    res = fit_model(spec, panel, _demo_graphs(), seed=1)
    bounds = channel_bounds(build_design(spec, panel, _demo_graphs()), "contiguity")
    search = {"lambda": (-0.99, 0.99)} if estimator == "sac" else {}
    edges = []
    for term, value in res.estimate.coefficients().set_index("term")["estimate"].items():
        prefix = term.split("_")[0]
        if prefix in ("rho", "lambda"):
            lo, hi = search.get(prefix, bounds)
            edges.append(at_bound(value, (max(lo, bounds[0]), min(hi, bounds[1]))))
    assert res.fit["converged"] is not any(edges)
    if any(edges):
        assert "admissible interval" in res.fit["message"]


def _component_outcome(panel: pd.DataFrame, islands_zero: bool = True) -> pd.Series:
    """An outcome equal to its contiguity lag up to noise 1e-3: constant within each connected component of
    linked states, 0 for islands, so rho (or lambda) -> 1 (with ``islands_zero=False`` the islands break the
    identity and the GMM estimate of rho leaves the interval)."""
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(0)
    out = pd.Series(0.0, index=panel.index)
    for year, g in _demo_graphs()["contiguity"].items():
        _, labels = connected_components(g.sparse, directed=True, connection="weak")
        sizes = np.bincount(labels)
        linked = (sizes[labels] > 1) | (not islands_zero)
        level = dict(zip(g.unique_ids, np.where(linked, labels + 1.0, 0.0), strict=True))
        rows = panel["year"] == year
        out[rows] = panel.loc[rows, "ccode"].map(level) + 1e-3 * rng.normal(size=int(rows.sum()))
    return out


# ------------------------------------------------------------------------------------------------ whole workflow


@dataclass(frozen=True)
class WorkflowCase:
    id: str
    edit: Callable[[Path], None]  # changes the clone (a data file or config/bad.yaml)
    target: str | None  # the failing stage's output (None: the run stops at parse time)
    fragments: tuple[str, ...]


def _edit_file(rel: str, edit: Callable[[list[str]], list[str]]) -> Callable[[Path], None]:
    return lambda w: _write(w / rel, edit(_lines(w / rel)))


def _edit_config(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(w: Path) -> None:
        config = yaml.safe_load((w / "config" / "small.yaml").read_text())
        edit(config)
        (w / "config" / "bad.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    return apply


def _model_entry(config: dict, model_id: str) -> dict:
    return next(m for m in config["models"] if m["id"] == model_id)


WORKFLOW_CASES = [
    WorkflowCase("missing source file", lambda w: (w / "data" / "demo" / "bloc.csv").unlink(), None,
                 ("input file not found", "data/demo/bloc.csv")),
    WorkflowCase("model naming an unknown channel",
                 _edit_config(lambda c: _model_entry(c, "sar_bloc_2014").update(weights=["trade"])), None,
                 ("model 'sar_bloc_2014' names an unknown channel", "models[2].weights", "'trade'")),
    WorkflowCase("unknown estimator",
                 _edit_config(lambda c: _model_entry(c, "ols_pooled").update(estimator="sar_mle")), None,
                 ("sar_mle", "is not one of")),
    WorkflowCase("channel file leaving raw_dir",
                 _edit_config(lambda c: c["channels"]["bloc"].update(file="../../../../etc/hostname")), None,
                 ("relative path leaves raw_dir", "channels.bloc.file", "'../../../../etc/hostname'")),
    WorkflowCase("negative count in the demo panel",
                 _edit_file("data/demo/panel.csv", _demo_cell(5, "contrib_total", "-5")), "results/demo/panel.csv",
                 ("contrib_total must be a non-negative number", "row: 5", "value: -5")),
    WorkflowCase("dyad self link", _edit_file("data/demo/contiguity.csv", _insert(4, "2,2,1995,1\n")),
                 "results/demo/weights/contiguity.csv", ("self link", "contiguity.csv", "row: 4", "(2, 2)")),
    WorkflowCase("island where the config forbids islands",
                 _edit_config(lambda c: c["channels"]["contiguity"].update(islands="fail")),
                 "results/demo/weights/contiguity.csv",
                 ("islands: fail", "contiguity.csv", "channels.contiguity.islands, year 1995", "value: [31")),
    WorkflowCase("same regressor twice",
                 _edit_config(lambda c: _model_entry(c, "sar_contiguity_2014").update(regressors=["log_gdppc"] * 2)),
                 "results/demo/models/sar_contiguity_2014/coefficients.csv",
                 ("EstimationError", "model 'sar_contiguity_2014'", "perfectly collinear", "log_gdppc")),
]


@pytest.mark.workflow
@pytest.mark.parametrize("case", WORKFLOW_CASES, ids=[c.id for c in WORKFLOW_CASES])
def test_bad_input_stops_the_workflow(case, tmp_path):
    from test_faults import clone, completed_small_demo, run
    from test_workflow import snapshot

    workdir = clone(completed_small_demo(), tmp_path / "project")
    before = snapshot(workdir / "results" / "demo")
    case.edit(workdir)
    config = "config/bad.yaml" if (workdir / "config" / "bad.yaml").exists() else "config/small.yaml"
    result = run(workdir, *([case.target] if case.target else []), check=False, config=config)
    text = result.stdout + result.stderr
    assert result.returncode != 0, text[-3000:]
    for fragment in case.fragments:
        assert fragment in text, (fragment, text[-3000:])
    after = snapshot(workdir / "results" / "demo")
    if case.target is None:
        assert after == before  # stopped before any job
    else:
        assert text.count("interdep: ") == 1, text[-3000:]
        # the failing job's outputs are gone (they existed from the completed run); nothing else changed
        assert not (workdir / case.target).exists()
        rel = str(Path(case.target).relative_to("results/demo"))
        assert rel in before and rel not in after
        # (a changed source is verified again: its verified/<group>.csv records the new sha256)
        unchanged = {k: v for k, v in after.items() if not k.startswith("verified/")}
        assert {k: before[k] for k in unchanged} == unchanged


@pytest.mark.workflow
def test_checksum_mismatch_stops_the_real_workflow(raw, tmp_path):
    """Real data: one changed source under raw_dir stops the verification of the panel's sources."""
    if raw is None:
        if os.environ.get("CI") == "true":
            pytest.fail("raw sources not found (required under CI=true)")
        pytest.skip("raw sources (../shared/data or $INTERDEP_RAW_DIR) not found")
    from test_faults import run
    from test_workflow import copy_project

    workdir = copy_project(REPO, tmp_path / "project")
    raw_copy = tmp_path / "raw"
    for folder in (d for d in raw.iterdir() if d.is_dir()):  # links to the real sources, except one changed copy
        (raw_copy / folder.name).mkdir(parents=True)
        for f in folder.iterdir():
            (raw_copy / folder.name / f.name).symlink_to(f)
    changed = raw_copy / "cow_states" / "states2016.csv"
    data = changed.read_bytes()
    changed.unlink()
    changed.write_bytes(_flip_byte(data))
    config = yaml.safe_load((REPO / "config" / "ipi.yaml").read_text())
    config["raw_dir"] = str(raw_copy)
    (workdir / "config" / "bad.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run(workdir, "results/ipi/verified/panel.csv", check=False, config="config/bad.yaml")
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "interdep: InputError: 1 source file(s) differ from the documented release" in text, text[-3000:]
    assert "cow_states" in text and str(changed) in text
    assert not (workdir / "results" / "ipi" / "verified" / "panel.csv").exists()


@pytest.mark.workflow
def test_config_cannot_construct_python_objects(tmp_path):
    """A YAML tag that would call code is refused by Snakemake's loader before anything runs."""
    from test_faults import run, small_project

    workdir = small_project(tmp_path / "project")
    text = (workdir / "config" / "small.yaml").read_text()
    (workdir / "config" / "bad.yaml").write_text(
        text.replace("dataset: demo", 'dataset: !!python/object/apply:os.system ["touch pwned"]'))
    result = run(workdir, check=False, config="config/bad.yaml")
    assert result.returncode != 0
    assert not (workdir / "pwned").exists() and not (workdir / "results").exists()


INTERDEP = str(Path(sys.executable).with_name("interdep"))


def _yte(config: dict) -> dict:
    config = {"__use_yte__": True, **copy.deepcopy(config)}
    config["dataset"] = "?__import__('pathlib').Path('pwned').touch() or 'demo'"
    return config


def _tagged(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False).replace("dataset: demo", "dataset: !!python/name:os.system")


@pytest.mark.workflow
@pytest.mark.parametrize(("kind", "fragments"), [
    ("yte", ("YTE template (__use_yte__)", "row: line 1", "'__use_yte__'")),
    ("python tag", ("YAML tag not allowed", "row: line 1", "'!!python/name:os.system'")),
    ("alias bomb", ("YAML aliases expand the config file to more than 100,000 values", "row: line")),
])
def test_interdep_refuses_a_config_before_snakemake_reads_it(kind, fragments, tmp_path):
    """``interdep`` (= snakemake after a check of its config files) stops on a config that would run code or
    explode before Snakemake loads it (Snakemake evaluates YTE while loading, even on a dry run)."""
    from test_faults import small_project

    workdir = small_project(tmp_path / "project")
    config = yaml.safe_load((workdir / "config" / "small.yaml").read_text())
    text = {"yte": lambda: yaml.safe_dump(_yte(config), sort_keys=False), "python tag": lambda: _tagged(config),
            "alias bomb": lambda: _alias_bomb(9)}[kind]()
    (workdir / "config" / "bad.yaml").write_text(text)
    result = subprocess.run([INTERDEP, "--dry-run", "--cores", "1", "--configfile", "config/bad.yaml"], cwd=workdir,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("interdep: InputError: ") and result.stderr.count("\n") == 1, result.stderr
    for fragment in (*fragments, "config/bad.yaml"):
        assert fragment in result.stderr, (fragment, result.stderr)
    assert not (workdir / "pwned").exists() and not (workdir / "results").exists()


@pytest.mark.workflow
def test_snakemake_itself_stops_on_a_yte_config_after_loading_it(tmp_path):
    """Plain ``snakemake`` has evaluated the template by the time the Snakefile runs (the README says to use
    ``interdep``); the Snakefile's check still stops the run with the same one line."""
    from test_faults import run, small_project

    workdir = small_project(tmp_path / "project")
    config = yaml.safe_load((workdir / "config" / "small.yaml").read_text())
    (workdir / "config" / "bad.yaml").write_text(yaml.safe_dump(_yte(config), sort_keys=False))
    result = run(workdir, "--dry-run", check=False, config="config/bad.yaml")
    assert result.returncode != 0
    assert "interdep: InputError: config file asks Snakemake to evaluate it as a YTE template" in result.stderr
    assert not (workdir / "results").exists()


@pytest.mark.workflow
def test_raw_dir_under_home_is_found(tmp_path):
    """``raw_dir: ~/demo`` (no shell expands ~ inside a config file) finds its files."""
    from test_faults import small_project

    workdir = small_project(tmp_path / "project")
    home = tmp_path / "home"
    home.mkdir()
    (home / "demo").symlink_to(workdir / "data" / "demo")
    config = yaml.safe_load((workdir / "config" / "small.yaml").read_text())
    config["raw_dir"] = "~/demo"
    (workdir / "config" / "home.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run([INTERDEP, "--dry-run", "--cores", "1", "--configfile", "config/home.yaml"], cwd=workdir,
                            capture_output=True, text=True, timeout=300, env={**os.environ, "HOME": str(home)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "input file not found" not in result.stdout + result.stderr


@pytest.mark.workflow
def test_dropped_contributions_are_written_and_counted_at_the_end_of_the_run(raw, tmp_path):
    """Real data, ``panel.nonmember: drop``: the panel is built, dropped.csv lists the row and why, and the console
    says how many rows were dropped when the run ends."""
    from test_faults import run
    from test_workflow import copy_project

    raw = _needs(raw)
    workdir = copy_project(REPO, tmp_path / "project")
    table = _write(tmp_path / "contrib.csv", ["country,year,troops\n452,2000,5\n260,2000,10\n"])
    config = yaml.safe_load((REPO / "config" / "ipi.yaml").read_text())
    config.update(dataset="drop", raw_dir=str(raw))
    config["panel"] = {"source": "table", "years": [2000, 2000], "covariates": ["p5"], "nonmember": "drop",
                       "contributions": {"file": str(table), "country_column": "country", "country_code": "ccode",
                                         "year_column": "year", "value_columns": {"troops": "troops"}}}
    (workdir / "config" / "drop.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run(workdir, "results/drop/dropped.csv", "results/drop/panel.csv", config="config/drop.yaml")
    dropped = read_table(workdir / "results" / "drop" / "dropped.csv")
    assert dropped[["row", "country", "troops"]].values.tolist() == [[3, 260, 10.0]]
    assert "not a state of the COW system in 2000" in dropped["reason"].item()
    panel = read_table(workdir / "results" / "drop" / "panel.csv")
    assert panel["troops"].sum() == 5 and 260 not in panel["ccode"].tolist()
    assert ("interdep: 1 contribution row(s) with 10 personnel dropped under panel.nonmember: drop"
            in result.stdout + result.stderr)
