"""The motives the literature names (issue 17): trade openness, territorial threat, rivalries, status, and the
rivalry channel. Unit tests on small files written here; facts anyone can check in the sources on the real files
(env ``INTERDEP_RAW_DIR``, default ``../shared/data``; skipped with the reason when absent, failing under CI=true).
"""

from __future__ import annotations

import csv
import gzip
import math

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml

from interdep.errors import InputError
from interdep.models.design import build_design
from interdep.panel import covariates as cv
from interdep.panel import real
from interdep.weights.channels import build_channel, resolve_spec
from interdep.weights.graphs import graph_from_dyads

RIVALS = "tssr_id,rivalry,ccode1,ccode2,start,end,positional,spatial,ideological,interventionary,principal,aprin\n"


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------- unit: trade


def test_trade_total_missing_when_a_side_is_missing_and_openness_in_percent(tmp_path):
    trade = cv.read_trade(_write(tmp_path, "t.csv", '"ccode","year","imports","exports"\n'
                                 "2,2000,100,50\n20,2000,,30\n"))
    assert trade["trade_total"].iloc[0] == 150 and np.isnan(trade["trade_total"].iloc[1])
    assert trade.attrs["years"] == (2000, 2000)
    gdp = pd.DataFrame({"ccode": [2, 20], "year": [2000, 2000], "gdp_usd": [1e9, 2e9]})
    out = cv.trade_openness(trade, gdp).set_index("ccode")
    assert out.loc[2, "trade_openness"] == pytest.approx(15.0)  # 150 million / 1 billion = 15 %
    assert out.loc[2, "log_trade_openness"] == pytest.approx(math.log(15.0))
    assert np.isnan(out.loc[20, "trade_openness"])


def test_trade_and_gdp_bad_values_raise(tmp_path):
    with pytest.raises(InputError, match="negative imports"):
        cv.read_trade(_write(tmp_path, "t.csv", "ccode,year,imports,exports\n2,2000,-1,5\n"))
    with pytest.raises(InputError, match="non-positive GDP"):
        cv.read_wb_gdp(_write(tmp_path, "g.csv", "Country Name,Country Code,Year,Value\nX,USA,2000,0\n"))


def test_wb_gdp_drops_aggregates_and_maps_iso3(tmp_path):
    out = cv.read_wb_gdp(_write(tmp_path, "g.csv", "Country Name,Country Code,Year,Value\n"
                                "World,WLD,2000,3e13\nIndia,IND,2000,4.7e11\n"))
    assert out.to_dict("records") == [{"ccode": 750, "year": 2000, "gdp_usd": 4.7e11}]


# --------------------------------------------------------------------------------------------- unit: rivalries


@pytest.fixture
def rivals_file(tmp_path):
    return _write(tmp_path, "r.csv", RIVALS
                  + '1,"A-B",2,20,1990,1995,1,,,,1,\n'      # principal, positional
                  + '2,"A-C",2,40,1993,2020,,1,,,,1\n'      # asymmetric principal, spatial
                  + '3,"B-C",20,40,1980,1991,,,1,,,\n')     # ideological


def test_rivalry_counts_principal_is_symmetric_only(rivals_file):
    rivalries = cv.read_rivalries(rivals_file)
    keys = pd.DataFrame({"ccode": [2, 2, 2, 40, 40, 20], "year": [1990, 1994, 1996, 1990, 1996, 1996]})
    out = cv.rivalry_counts(keys, rivalries)
    assert out["n_rivalries"].tolist() == [1, 2, 1, 1, 1, 0]
    # 2 has a principal rival while A-B lasts; A-C is only aprin, so 40 never has one
    assert out["principal_rival"].tolist() == [1, 1, 0, 0, 0, 0]


def test_rivalry_counts_missing_outside_the_source(rivals_file):
    keys = pd.DataFrame({"ccode": [2, 2], "year": [1979, 2021]})
    out = cv.rivalry_counts(keys, cv.read_rivalries(rivals_file))  # the file covers 1980-2020
    assert out.isna().all().all()


@pytest.mark.parametrize(("row", "message"), [
    ('1,"A-B",2,20,1990,1995,2,,,,,\n', "positional must be 1 or empty"),
    ('1,"A-B",2,20,1995,1990,1,,,,,\n', "end year before start"),
    ('1,"A-A",2,2,1990,1995,1,,,,,\n', "its own rival"),
    ('1,"A-B",2,,1990,1995,1,,,,,\n', "missing rivalry id"),
])
def test_rivalry_file_errors_name_the_line(tmp_path, row, message):
    with pytest.raises(InputError, match=message) as err:
        cv.read_rivalries(_write(tmp_path, "r.csv", RIVALS + row))
    assert err.value.row == 2


def test_rivalry_channel_options(rivals_file):
    ids = {1990: [2, 20, 40], 1994: [2, 20, 40], 1996: [2, 20, 40, 41]}

    def links(**opts):
        graphs = build_channel({"name": "r", "type": "rivalry", "file": str(rivals_file), **opts}, ids,
                               rivals_file.parent)
        return {t: sorted(map(tuple, g.adjacency.reset_index().query("focal != neighbor")[["focal", "neighbor"]]
                              .to_numpy().tolist())) for t, g in graphs.items()}

    assert links()[1990] == [(2, 20), (20, 2), (20, 40), (40, 20)]
    assert links()[1994] == [(2, 20), (2, 40), (20, 2), (40, 2)]
    assert links(rivals="principal")[1994] == [(2, 20), (20, 2)]
    assert links(rivals="principal_any")[1996] == [(2, 40), (40, 2)]
    assert links(kinds=["ideological"])[1994] == []
    assert links(kinds=["spatial", "ideological"])[1990] == [(20, 40), (40, 20)]
    g = build_channel({"name": "r", "type": "rivalry", "file": str(rivals_file)}, ids, rivals_file.parent)[1994]
    assert g.adjacency.loc[(2, 20)] == pytest.approx(0.5)  # row-standardised: 2 has two rivals in 1994
    with pytest.raises(InputError, match="covers years 1980-2020"):
        build_channel({"name": "r", "type": "rivalry", "file": str(rivals_file)}, {2021: [2, 20]},
                      rivals_file.parent)


@pytest.mark.parametrize(("spec", "message"), [
    ({"kinds": ["economic"]}, "kinds must be"),
    ({"kinds": []}, "kinds must be"),
    ({"rivals": "main"}, "rivals must be one of"),
    ({"obligation": "any"}, "not used by a rivalry channel"),
])
def test_rivalry_spec_errors_name_the_channel(spec, message):
    with pytest.raises(InputError, match=message) as err:
        resolve_spec({"name": "rv", "type": "rivalry", **spec})
    assert "'rv'" in str(err.value)


@pytest.mark.parametrize(("channel", "ok"), [
    ({"type": "rivalry"}, True),
    ({"type": "rivalry", "rivals": "principal", "kinds": ["spatial", "ideological"]}, True),
    ({"type": "rivalry", "kinds": ["economic"]}, False),
    ({"type": "rivalry", "kinds": []}, False),
    ({"type": "rivalry", "max_type": 1}, False),
    ({"type": "contiguity", "rivals": "all"}, False),
])
def test_schema_accepts_only_rivalry_keys_on_a_rivalry_channel(repo, channel, ok):
    schema = yaml.safe_load((repo / "config" / "schema.yaml").read_text())
    validator = jsonschema.Draft202012Validator({**schema["$defs"]["channel"], "$defs": schema["$defs"]})
    assert validator.is_valid(channel) is ok


# --------------------------------------------------------------------------------------------- unit: status


def test_power_status_counts_a_spell_covering_1_july(tmp_path):
    path = _write(tmp_path, "p.csv", '"ccode","regstdate","regenddate","globstdate","globenddate"\n'
                  "255,1991-12-11,2019-12-31,,\n645,1970-01-01,1991-03-20,,\n365,,,1922-01-01,1990-12-31\n"
                  "365,1991-01-01,2019-12-31,,\n")
    spells = cv.read_powers(path)
    keys = pd.DataFrame({"ccode": [255, 255, 645, 645, 365, 365, 2],
                         "year": [1991, 1992, 1990, 1991, 1990, 1991, 2000]})
    out = cv.power_status(keys, spells)
    assert out["regional_power"].tolist() == [0, 1, 1, 0, 0, 1, 0]
    assert out["global_power"].tolist() == [0, 0, 0, 0, 1, 0, 0]
    assert cv.power_status(pd.DataFrame({"ccode": [2], "year": [2020]}), spells).isna().all().all()


def test_power_spell_with_bad_date_names_the_line(tmp_path):
    path = _write(tmp_path, "p.csv", "ccode,regstdate,regenddate,globstdate,globenddate\n2,,,1899-01-01,soon\n")
    with pytest.raises(InputError, match="global spell") as err:
        cv.read_powers(path)
    assert err.value.row == 2


# --------------------------------------------------------------------------------------------- unit: one sample


def test_complete_cases_fits_nested_models_on_one_sample():
    panel = pd.DataFrame({"ccode": [1, 2, 3, 1, 2, 3], "year": [2000] * 3 + [2001] * 3,
                          "y": [1.0, 2.0, 0.5, 1.5, 2.5, 0.0], "x": [0.1, 0.4, 0.2, 0.3, 0.9, 0.5],
                          "z": [1.0, np.nan, 2.0, 3.0, 4.0, 5.0]})  # fmt: skip
    graphs = {"w": {t: graph_from_dyads(pd.DataFrame({"ccode": [1, 2, 3], "neighbor": [2, 3, 1]}), [1, 2, 3])
                    for t in (2000, 2001)}}
    spec = {"id": "m", "outcome": "y", "regressors": ["x"], "weights": ["w"]}
    assert build_design(spec, panel, graphs).n_obs == 6
    design = build_design({**spec, "complete_cases": ["z"]}, panel, graphs)
    assert design.n_obs == 5 and (2, 2000) not in set(map(tuple, design.sample.to_numpy().tolist()))
    assert any("complete_cases z" in n for n in design.notes)
    with pytest.raises(InputError, match="'nope' not in the panel"):
        build_design({**spec, "complete_cases": ["nope"]}, panel, graphs)


# --------------------------------------------------------------------------------------------- real data

INDIA, PAKISTAN, CHINA, USA = 750, 770, 710, 2


@pytest.fixture(scope="module")
def panel(shared_raw_dir):
    built, codebook = real.build_real_panel(shared_raw_dir, {"years": [1990, 2014]})
    return built.set_index(["ccode", "year"]), codebook.set_index("column")


@pytest.fixture(scope="module")
def rivalry_graphs(shared_raw_dir, panel):
    ids = {int(t): g.index.get_level_values("ccode").tolist() for t, g in panel[0].groupby(level="year")}
    return build_channel({"name": "rivalry", "type": "rivalry"}, ids, shared_raw_dir)


def test_india_pakistan_and_china_india_rivalries_ongoing_1990_2014(panel, rivalry_graphs):
    p, _ = panel
    for t in range(1990, 2015):
        nbrs = set(rivalry_graphs[t].adjacency.loc[INDIA].index)
        assert {PAKISTAN, CHINA} <= nbrs, t
        assert INDIA in set(rivalry_graphs[t].adjacency.loc[PAKISTAN].index)
        assert p.loc[(INDIA, t), "n_rivalries"] == 2  # tss rivalries 107 (Pakistan) and 109 (China), 1947/48-2020
        assert p.loc[(INDIA, t), "principal_rival"] == 1 and p.loc[(PAKISTAN, t), "principal_rival"] == 1


def test_usa_a_global_power_throughout(panel):
    p, _ = panel
    usa = p.xs(USA, level="ccode")
    assert (usa["global_power"] == 1).all() and (usa["regional_power"] == 0).all() and len(usa) == 25
    assert p.loc[(365, 1990), "global_power"] == 1 and p.loc[(365, 1991), "global_power"] == 0  # USSR -> Russia
    assert p.loc[(365, 1991), "regional_power"] == 1
    assert p.loc[(255, 1991), "regional_power"] == 0 and p.loc[(255, 1992), "regional_power"] == 1  # 1991-12-11


def test_trade_openness_against_the_source_rows(panel, shared_raw_dir):
    """India 2000, read by hand: COW imports + exports (million current US$) over World Bank GDP (current US$)."""
    with open(shared_raw_dir / "cow_trade" / "cow_trade_sy_peacesciencer.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["ccode"] == "750" and r["year"] == "2000")
    with open(shared_raw_dir / "worldbank" / "wb_gdp_current_usd_datahub.csv", newline="") as f:
        gdp = next(float(r["Value"]) for r in csv.DictReader(f) if r["Country Code"] == "IND" and r["Year"] == "2000")
    by_hand = 100 * (float(row["imports"]) + float(row["exports"])) * 1_000_000 / gdp
    assert 15 < by_hand < 30  # India's goods trade was about a fifth of GDP in 2000
    assert panel[0].loc[(INDIA, 2000), "trade_openness"] == pytest.approx(by_hand, rel=1e-12)
    assert panel[0].loc[(INDIA, 2000), "log_trade"] == pytest.approx(
        math.log(float(row["imports"]) + float(row["exports"])), rel=1e-12)


def test_threat_ends_2010_and_is_the_source_value(panel, shared_raw_dir):
    p, codebook = panel
    with gzip.open(shared_raw_dir / "terrthreat" / "terrthreat_peacesciencer.csv.gz", "rt", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["ccode"] == "750" and r["year"] == "2010")
    assert p.loc[(INDIA, 2010), "terr_threat"] == pytest.approx(float(row["lterrthreat"]), rel=1e-12)
    assert p.loc[(INDIA, 2010), "terr_threat_sd"] == pytest.approx(float(row["sd"]), rel=1e-12)
    after = p[p.index.get_level_values("year") > 2010]
    assert after["terr_threat"].isna().all() and after["terr_threat_sd"].isna().all()
    assert "posterior sd" in codebook.loc["terr_threat", "transformation"]
    for col in ("trade_openness", "terr_threat", "n_rivalries", "principal_rival", "regional_power",
                "global_power"):
        assert codebook.loc[col, "n_missing"] == p[col].isna().sum()
