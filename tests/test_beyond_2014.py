"""Data beyond 2014: contributions tables as they come, names by period, channels past their sources, the
coverage check, the co-deployment channel, and the UN DPO series against IPI's (issue 13).

Tests on the real files skip with a reason when ../shared/data (or $INTERDEP_RAW_DIR) is absent, and fail under
CI=true (tests/conftest.py).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interdep.errors import InputError
from interdep.panel import contributions as c
from interdep.panel import countries, real
from interdep.panel.coverage import carried_years, check_models, coverage_summary, coverage_table, declared_gaps
from interdep.weights.channels import build_channel, channel_plan, deployments

UN_FILE = "un_dpo/un_dpo_country_mission_year_2010_2021.csv"


def _names(names, years, **kw):
    return countries.map_names(pd.Series(names), pd.Series(years), file="f.csv", **kw)


# ------------------------------------------------------------------------------------------ names by period


@pytest.mark.parametrize("name", [
    "Côte d’Ivoire",  # typographic apostrophe, as in the UN DPO file
    unicodedata.normalize("NFD", "Côte d'Ivoire"),  # decomposed accent
    "CÔTE  D'IVOIRE", "cote d`ivoire",
])
def test_names_fold_unicode_apostrophes_and_case(name):
    assert _names([name], [2015])["ccode"].iloc[0] == 437


def test_a_name_maps_only_to_a_state_existing_that_year():
    assert _names(["Korea"], [1900])["ccode"].iloc[0] == 730  # COW 730: Korea 1887-1905
    with pytest.raises(InputError, match=r"not valid in year 2005 .*COW 730 1887-1905") as err:
        _names(["Albania", "Korea"], [2005, 2005])
    assert (err.value.row, err.value.value) == (3, "Korea")
    marked = _names(["Korea"], [2005], outside="mark")
    assert pd.isna(marked["ccode"].iloc[0]) and "COW 730" in marked["outside"].iloc[0]


def test_config_names_override_and_exclude():
    out = _names(["Korea", "Atlantis", "Ghana"], [2005, 2005, 2005],
                 overrides={"KOREA": 732, "Atlantis": None})
    assert out["ccode"].tolist()[0] == 732 and out["ccode"].tolist()[2] == 452
    assert pd.isna(out["ccode"].iloc[1]) and out["excluded"].iloc[1] == "excluded by the config's names"
    with pytest.raises(InputError, match="not in the COW state list"):
        _names(["Korea"], [2005], overrides={"Korea": 999})


def test_zero_row_of_a_name_no_state_that_year_is_accepted_a_contribution_is_not(tmp_path):
    from interdep.panel import real

    path = tmp_path / "t.csv"
    path.write_text("country,year,n\nKorea,2005,0\nGhana,2005,10\n")
    spec = {"country_column": "country", "year_column": "year", "value_columns": {"contrib_total": "n"}}
    out = c.map_contributors(c.read_contributions_table(path, spec), "name", file=str(path))
    assert pd.isna(out["ccode"].iloc[0]) and pd.isna(out["excluded"].iloc[0])  # zero: not mapped to any state
    path.write_text("country,year,n\nKorea,2005,10\n")
    out = c.map_contributors(c.read_contributions_table(path, spec), "name", file=str(path))
    assert pd.isna(out["ccode"].iloc[0]) and out["excluded"].iloc[0].startswith(c.OUTSIDE_PREFIX)
    out.attrs["file"] = str(path)
    keys = pd.DataFrame({"ccode": [452, 732], "year": [2005, 2005]})
    with pytest.raises(InputError, match=r"cannot be placed .*COW 730") as err:  # 730 = Korea 1887-1905
        real.unplaced_contributions(out, keys, (2005, 2005))
    assert err.value.row == 2 and str(err.value.value).startswith("Korea, ")
    dropped = real.unplaced_contributions(out, keys, (2005, 2005), policy="drop")
    assert dropped["reason"].str.contains("COW 730").all() and dropped["contrib_total"].tolist() == [10]


# ------------------------------------------------------------------------------------------ tables as they come


def _table(tmp_path, text, **spec):
    path = tmp_path / "t.csv"
    path.write_text(text)
    spec = {"country_column": "country", **spec}
    long = c.read_contributions_table(path, spec)
    return c.map_contributors(long, "name", file=str(path), aggregate=spec.get("aggregate") == "sum")


MISSIONS = "country,year,mission,total\nGhana,2015,UNMIL,10\nGhana,2015,UNIFIL,5\nGhana,2016,UNMIL,3\n"


def test_rows_per_mission_are_summed_when_asked_and_refused_otherwise(tmp_path):
    out = _table(tmp_path, MISSIONS, year_column="year", value_columns={"contrib_total": "total"}, aggregate="sum")
    assert out[["year", "contrib_total", "row"]].values.tolist() == [[2015, 15, 2], [2016, 3, 4]]
    with pytest.raises(InputError, match=r"duplicate key \(ccode 452, 2015\) from rows \[2, 3\]"):
        _table(tmp_path, MISSIONS, year_column="year", value_columns={"contrib_total": "total"})


def test_two_spellings_of_one_state_are_summed_with_aggregate(tmp_path):
    text = "country,year,total\nCôte d’Ivoire,2015,4\nCote d'Ivoire,2015,6\n"
    out = _table(tmp_path, text, year_column="year", value_columns={"contrib_total": "total"}, aggregate="sum")
    assert out["contrib_total"].tolist() == [10] and out["ccode"].tolist() == [437]


TYPES = {"troops": "Troops", "police": "Police", "experts": "Experts"}


def test_long_table_with_a_personnel_type_column(tmp_path):
    text = ("country,date,type,n\nGhana,2015-01-31,Troops,100\nGhana,2015-01-31,Police,20\n"
            "Ghana,2015-02-28,Troops,80\nNepal,2015-01-31,Experts,3\n")
    out = _table(tmp_path, text, date_column="date", type_column="type", value_column="n", types=TYPES)
    ghana = out[out["ccode"] == 452].set_index(out["period"].astype(str)[out["ccode"] == 452])
    assert ghana.loc["2015-01", ["troops", "police", "experts", "contrib_total"]].tolist() == [100, 20, 0, 120]
    assert ghana.loc["2015-02", "contrib_total"] == 80
    state_year, world = c.yearly_contributions(out)  # monthly snapshots -> mean over the 2 months covered
    assert state_year.set_index("ccode").loc[452, "troops"] == pytest.approx(90)
    assert world.loc[2015, "world_total"] == pytest.approx((123 + 80) / 2)


def test_type_column_refuses_unknown_labels_and_repeated_types(tmp_path):
    with pytest.raises(InputError, match="personnel type not in types") as err:
        _table(tmp_path, "country,year,type,n\nGhana,2015,Troops,1\nGhana,2015,Civilians,9\n", year_column="year",
               type_column="type", value_column="n", types=TYPES)
    assert (err.value.row, err.value.value) == (3, "Civilians")
    text = "country,year,type,n\nGhana,2015,Troops,1\nGhana,2015,Troops,9\n"
    with pytest.raises(InputError, match="'Troops' given twice .* aggregate: sum"):
        _table(tmp_path, text, year_column="year", type_column="type", value_column="n", types=TYPES)
    out = _table(tmp_path, text, year_column="year", type_column="type", value_column="n", types=TYPES,
                 aggregate="sum")
    assert out["troops"].tolist() == [10]


# ------------------------------------------------------------------------------------------ channels past sources


def _dyads(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("ccode1,ccode2,year,value\n2,20,2000,1\n20,2,2000,1\n2,20,2001,1\n20,2,2001,1\n")
    return path


def test_a_channel_past_its_source_stops_naming_channel_source_and_years(tmp_path):
    spec = {"name": "borders", "type": "dyads", "file": str(_dyads(tmp_path))}
    ids = {y: [2, 20, 31] for y in range(2000, 2004)}
    with pytest.raises(InputError, match=r"channel 'borders': source covers years 2000-2001 \(d.csv\); the panel's "
                                         r"years \[2002, 2003\]") as err:
        build_channel(spec, ids, tmp_path)
    assert err.value.row == "channels.borders" and "carry_forward" in str(err.value)


def test_carry_forward_uses_the_last_years_links_and_says_so(tmp_path):
    spec = {"name": "borders", "type": "dyads", "file": str(_dyads(tmp_path)), "carry_forward": True}
    ids = {y: [2, 20, 31] for y in range(2000, 2004)}
    graphs = build_channel(spec, ids, tmp_path)
    assert graphs[2003].adjacency.equals(graphs[2001].adjacency) and graphs[2003].n_edges == 2
    plan = channel_plan(spec, list(ids), tmp_path)
    assert plan["source_year"].tolist() == [2000, 2001, 2001, 2001]
    assert plan["carried"].tolist() == [False, False, True, True]
    summary = plan.assign(n=3)
    assert carried_years({"borders": summary}, [2001, 2003]) == {"borders": {"2002": 2001, "2003": 2001}}


# ------------------------------------------------------------------------------------------ coverage


def _coverage_inputs():
    panel = pd.DataFrame({"ccode": [2, 20] * 4, "year": np.repeat([2000, 2001, 2002, 2003], 2),
                          "y": [1.0, 2.0] * 3 + [np.nan, np.nan], "x": [1.0, 2.0, 3.0, 4.0, np.nan, np.nan, 5, 6]})
    summary = pd.DataFrame({"year": [2000, 2001, 2002, 2003], "source_year": [2000, 2001, 2001, 2001],
                            "carried": [False, False, True, True]})
    return panel, {"w": summary}


def test_coverage_table_per_variable_channel_and_model():
    panel, summaries = _coverage_inputs()
    models = [{"id": "m", "outcome": "y", "regressors": ["x"], "weights": ["w"], "years": [2000, 2001]}]
    table = coverage_table(panel, summaries, models, sources={"x": "X source"}, channel_sources={"w": "w.csv"})
    x = table[(table["kind"] == "variable") & (table["name"] == "x")]
    assert x["covered"].tolist() == [True, True, False, True] and set(x["source"]) == {"X source"}
    w = table[table["kind"] == "channel"].set_index("year")
    assert w.loc[2003, "detail"] == "links of 2001 carried forward" and set(w["source"]) == {"w.csv"}
    assert table[table["kind"] == "model"]["covered"].tolist() == [True, True]
    check_models(table, models)  # nothing raised
    summary = coverage_summary(table).set_index("name")
    assert summary.loc["x", "years not covered"] == "2002" and summary.loc["w", "carried forward"] == "2002-2003"


def test_a_model_beyond_its_sources_stops_naming_model_variable_and_years():
    panel, summaries = _coverage_inputs()
    models = [{"id": "m", "outcome": "y", "regressors": ["x"], "weights": ["w"], "years": [2000, 2003]}]
    table = coverage_table(panel, summaries, models)
    with pytest.raises(InputError, match=r"model 'm': variable 'x' does not cover years \[2002\]; it can use "
                                         r"2000-2001") as err:
        check_models(table, models)
    assert err.value.row == "models[0].years"
    table = coverage_table(panel, summaries, models, gaps=[2002, 2003])  # declared gaps are skipped
    check_models(table, models, gaps=[2002, 2003])
    longer = [{**models[0], "years": [2000, 2004]}]  # 2004: beyond the panel
    with pytest.raises(InputError, match=r"variable 'y' does not cover years \[2004\]"):
        check_models(coverage_table(panel, summaries, longer, gaps=[2002, 2003]), longer, gaps=[2002, 2003])


def test_declared_gaps():
    opts = {"source": "table", "contributions": {"drop_years": [2010, 2017, 2021]}}
    assert declared_gaps(opts) == [2010, 2017, 2021]
    assert declared_gaps({**opts, "combine": {"ipi_until": 2013}}) == [2017, 2021]
    assert declared_gaps({"source": "ipi"}) == []


# ------------------------------------------------------------------------------------------ co-deployment


UN_HEADER = '"","Year","Country","Mission","Female","Male","Total"\n'


def _un(tmp_path, rows):
    path = tmp_path / "un.csv"
    path.write_text(UN_HEADER + "".join(f'"{i}",{y},"{c}","{m}",0,{n},{n}\n' for i, (y, c, m, n) in enumerate(rows)))
    return path


def test_co_deployment_links_states_serving_in_the_same_missions(tmp_path):
    rows = [(2015, "India", "MONUSCO", 3500), (2015, "Pakistan", "MONUSCO", 3300), (2015, "Pakistan", "UNMIL", 700),
            (2015, "India", "UNMISS", 2000), (2015, "Ghana", "UNMIL", 500), (2015, "Nepal", "UNMISS", 0),
            (2015, "Fiji", "UNDOF", 400)]
    path = _un(tmp_path, rows)
    ids = {2016: [365, 450, 452, 750, 770, 790, 950]}  # lag 1 by default: 2016's links are 2015's missions
    spec = {"name": "co", "type": "co_deployment", "file": str(path), "transform": "raw"}
    adj = build_channel(spec, ids, tmp_path)[2016].adjacency
    assert adj[(750, 770)] == 1 and adj[(770, 750)] == 1  # India and Pakistan in MONUSCO
    assert adj[(770, 452)] == 1 and adj[(452, 770)] == 1  # Pakistan and Ghana in UNMIL
    assert (750, 452) not in adj.index or adj[(750, 452)] == 0  # no shared mission
    assert (750, 790) not in adj.index or adj[(750, 790)] == 0  # Nepal's 0 in UNMISS is no service
    overlap = build_channel({**spec, "weighting": "overlap"}, ids, tmp_path)[2016].adjacency
    # India: 3500/5500 in MONUSCO; Pakistan: 3300/4000 -> overlap min(0.636, 0.825)
    assert overlap[(750, 770)] == pytest.approx(3500 / 5500)
    assert overlap[(770, 452)] == pytest.approx(700 / 4000)
    with pytest.raises(InputError, match="source covers years 2015-2015"):
        build_channel({**spec, "lag": 0}, ids, tmp_path)


# ------------------------------------------------------------------------------------------ real files


def test_un_dpo_panel_facts(shared_raw_dir):
    opts = {"source": "table", "years": [2011, 2020], "covariates": ["p5"],
            "contributions": {"file": UN_FILE, "country_column": "Country", "country_code": "name",
                              "year_column": "Year", "value_columns": {"contrib_total": "Total"},
                              "aggregate": "sum", "drop_years": [2010, 2017, 2021]}}
    assert "ipi_country_month" not in real.source_files(shared_raw_dir, opts)  # the IPI file is not needed
    panel, _ = real.build_real_panel(shared_raw_dir, opts)
    totals = panel.groupby("year")["contrib_total"].sum(min_count=1)
    assert totals[2011] == 91516 and totals[2012] == 66434 and totals[2019] == 87019  # PROVENANCE.md
    assert panel.loc[panel["year"] == 2017, "contrib_total"].isna().all()  # dropped: missing, not 0
    p = panel.set_index(["ccode", "year"])
    assert p.loc[(437, 2015), "contrib_total"] > 0  # Côte d’Ivoire, typographic apostrophe in the file
    assert p.loc[(732, 2015), "contrib_total"] > 0  # Republic of Korea -> COW 732, never 730


def test_combined_series_and_comparison_with_ipi(shared_raw_dir):
    opts = {"source": "table", "years": [2009, 2016], "covariates": ["p5"], "combine": {"ipi_until": 2013},
            "contributions": {"file": UN_FILE, "country_column": "Country", "country_code": "name",
                              "year_column": "Year", "value_columns": {"contrib_total": "Total"},
                              "aggregate": "sum", "drop_years": [2010, 2017, 2021]}}
    panel, codebook = real.build_real_panel(shared_raw_dir, opts)
    totals = panel.groupby("year")["contrib_total"].sum()
    assert totals[2012] == pytest.approx(97561.1667, abs=0.01) and totals[2014] == 91897  # IPI, then UN
    assert "up to 2013" in codebook.set_index("column").loc["contrib_total", "source"]
    comparison = pd.DataFrame(panel.attrs["sources_comparison"])
    world = comparison[comparison["scope"] == "world"].set_index("year")
    assert world.index.tolist() == [2011, 2012, 2013, 2014]  # 2010 dropped from the table
    assert world.loc[2012, "ratio"] == pytest.approx(66434 / 97561.1667, abs=1e-6)  # -32% (PROVENANCE.md)
    warnings = real.comparison_warnings(comparison, 0.05)
    assert len(warnings) == 4 and "2012" in warnings[1] and "-31.9%" in warnings[1]
    assert real.comparison_warnings(comparison, 0.35) == []
    summary = real.comparison_summary(comparison)
    assert summary.columns[-1] == "largest differences" and summary["largest differences"].str.len().gt(0).all()


def test_co_deployment_on_the_un_file(shared_raw_dir):
    d = deployments({"source": "un_dpo"}, Path(shared_raw_dir) / UN_FILE)
    monusco = d[(d["year"] == 2015) & (d["mission"] == "MONUSCO")].nlargest(2, "personnel")
    assert set(monusco["ccode"]) == {750, 770}  # India and Pakistan, the two largest in MONUSCO in 2015
    graphs = build_channel({"name": "co", "type": "co_deployment", "transform": "raw"}, {2016: [750, 770, 2]},
                           shared_raw_dir)
    assert graphs[2016].adjacency[(750, 770)] >= 1


def test_co_deployment_on_the_ipi_gender_file(shared_raw_dir):
    spec = {"name": "co", "type": "co_deployment", "source": "ipi_gender", "transform": "raw", "lag": 0}
    assert channel_plan(spec, [2009, 2014], shared_raw_dir)["source_year"].tolist() == [2009, 2014]
    adj = build_channel(spec, {2012: [750, 770, 771, 2]}, shared_raw_dir)[2012].adjacency
    assert adj[(770, 771)] >= 5 and adj[(750, 770)] >= 3  # Pakistan, Bangladesh, India: the largest contributors
