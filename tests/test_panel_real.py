"""The real panel built from the raw sources (../shared/data or $INTERDEP_RAW_DIR).

Skipped with a stated reason when the raw folder is absent, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interdep.errors import InputError
from interdep.panel import real
from interdep.panel.sources import verify_sources

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["ccode", "iso3", "year", "troops", "police", "experts", "contrib_total", "contributed", "log_contrib",
           "log_troops", "log_police", "log_experts", "contrib_share", "gdppc", "log_gdppc", "pop", "log_pop",
           "polity2", "polyarchy", "milex", "log_milex", "milper", "conflict_own", "conflict_neighbour",
           "refugees_hosted", "log_refugees_hosted", "p5", "unga_idealpoint", "gdp_usd", "trade_total", "log_trade",
           "trade_openness", "log_trade_openness", "terr_threat", "terr_threat_sd", "n_rivalries", "principal_rival",
           "regional_power", "global_power"]


@pytest.fixture(scope="module")
def raw_dir() -> Path:
    path = Path(os.environ.get("INTERDEP_RAW_DIR", REPO.parent / "shared" / "data"))
    if not (path / "ipi_peacekeeping").is_dir():
        reason = f"raw sources not found at {path} (set INTERDEP_RAW_DIR to the folder laid out as ../shared/data)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def built(raw_dir):
    start = time.perf_counter()
    panel, codebook = real.build_real_panel(raw_dir, {"years": [1990, 2014]})
    return panel, codebook, time.perf_counter() - start


pytestmark = pytest.mark.realdata


def test_sources_present_and_unchanged(raw_dir):
    out = verify_sources(raw_dir, REPO / "data" / "sources.csv")
    assert (out["status"] == "ok").all() and len(out) == 49


def test_panel_shape_keys_and_speed(built):
    panel, _, seconds = built
    assert seconds < 10
    assert panel.columns.tolist() == COLUMNS
    assert panel["ccode"].dtype == "int64" and panel["year"].dtype == "int64"
    assert not panel.duplicated(["ccode", "year"]).any()
    assert panel.equals(panel.sort_values(["ccode", "year"]).reset_index(drop=True))
    assert (panel[["troops", "police", "experts", "contrib_total"]] >= 0).all().all()
    per_year = panel.groupby("year").size()
    assert per_year[1990] == 165 and per_year[2014] == 195


def test_largest_contributors_2010(built):
    panel, _, _ = built
    top = panel[panel.year == 2010].nlargest(3, "contrib_total")["iso3"].tolist()
    assert top == ["PAK", "BGD", "IND"]  # IPI file, 2010 rows: Pakistan ~10,710, Bangladesh ~10,615, India ~8,805


def test_states_enter_and_leave_the_system(built):
    panel, _, _ = built
    span = panel.groupby("ccode")["year"].agg(["min", "max"])
    assert tuple(span.loc[626]) == (2011, 2014)  # South Sudan
    assert tuple(span.loc[341]) == (2006, 2014)  # Montenegro
    assert tuple(span.loc[860]) == (2002, 2014)  # East Timor
    assert tuple(span.loc[315]) == (1990, 1992) and span.loc[316, "min"] == 1993  # Czechoslovakia / Czech Rep.
    assert tuple(span.loc[260]) == (1990, 1990) and span.loc[255, "min"] == 1990  # West and unified Germany


def test_values_a_reader_can_check_in_the_source(built):
    panel, _, _ = built
    p = panel.set_index(["ccode", "year"])
    # "Czech Republic" rows 1990-11 and 1990-12 hold 6 troops each: Czechoslovakia, mean over the 2 covered months
    assert p.loc[(315, 1990), "troops"] == pytest.approx(6.0)
    assert p.loc[(2, 2010), "p5"] == 1 and p.loc[(750, 2010), "p5"] == 0
    assert p.loc[(490, 2000), "conflict_own"] == 1 and p.loc[(500, 2000), "conflict_neighbour"] == 1
    assert p.loc[(345, 1999), "contributed"] in (0, 1)


def test_world_totals_agree_with_ipi_monthly_summary(built, raw_dir):
    panel, _, _ = built
    monthly = pd.read_csv(raw_dir / "ipi_peacekeeping" / "ipi_monthly_totals_by_type_1990_2014.csv")
    summary = monthly.groupby(monthly["date"].str[:4].astype(int))["total.sum"].mean()
    ours = panel.groupby("year")["contrib_total"].sum()
    years = range(1990, 2014)  # the summary file ends 2014-02, the country file 2014-03
    pd.testing.assert_series_equal(ours[list(years)], summary[list(years)], check_names=False, rtol=1e-4)
    assert panel.groupby("year")["contrib_share"].sum().round(9).eq(1).all()
    assert panel.attrs["nonmember_contributions"] == [] and panel.attrs["excluded_names"] == []


def test_codebook_covers_every_column(built):
    panel, codebook, _ = built
    assert codebook.columns.tolist() == ["column", "label", "unit", "source", "transformation", "n_missing"]
    assert codebook["column"].tolist() == panel.columns.tolist()
    assert codebook.set_index("column")["n_missing"].to_dict() == panel.isna().sum().to_dict()
    assert codebook.set_index("column").loc["contrib_total", "n_missing"] == 0


def test_outcome_transformations_are_named_columns(built):
    panel = built[0]
    for col in ("troops", "police", "experts"):
        np.testing.assert_allclose(panel[f"log_{col}"], np.log1p(panel[col]))


def test_deterministic(built, raw_dir):
    again, _ = real.build_real_panel(raw_dir, {"years": [1990, 2014]})
    pd.testing.assert_frame_equal(built[0], again)


def test_generic_table_drops_non_members_and_excluded_names_only_when_told(raw_dir, tmp_path, caplog):
    table = tmp_path / "un.csv"
    table.write_text("country,year,personnel\nGhana,2000,3000\nGerman Federal Republic,2000,5\n"
                     "Total,2000,3005\nGhana,2001,10\n")
    options = {"source": "table", "covariates": ["p5"],
               "contributions": {"file": str(table), "country_column": "country", "country_code": "name",
                                 "year_column": "year", "value_columns": {"contrib_total": "personnel"}}}
    with pytest.raises(InputError, match=r"cannot be placed.*not valid in year 2000 .*COW 260 1955-1990") as err:
        real.build_real_panel(raw_dir, options)  # no German Federal Republic in 2000
    assert err.value.row == 3 and str(err.value.value).startswith("German Federal Republic, 2000")
    options["names"] = {"German federal republic": 260}  # the config insists: then a non-member, reported
    with pytest.raises(InputError, match=r"not a state of the COW system in 2000.*row: 3"):
        real.build_real_panel(raw_dir, options)
    with caplog.at_level(logging.WARNING):
        panel, codebook = real.build_real_panel(raw_dir, {**options, "nonmember": "drop"})
    assert panel.attrs["nonmember_contributions"][0]["ccode"] == 260
    assert "outside the COW state system" in caplog.text and "2 contribution row(s) dropped" in caplog.text
    assert panel.attrs["excluded_names"] == ["Total"]
    dropped = pd.DataFrame(panel.attrs["dropped"])
    assert dropped["row"].tolist() == [3, 4] and dropped["contrib_total"].tolist() == [5, 3005]
    assert dropped["reason"].str.contains("COW code 260|aggregate row").all()
    p = panel.set_index(["ccode", "year"])
    assert p.loc[(452, 2000), "contrib_total"] == 3000 and p.loc[(2, 2000), "contrib_total"] == 0
    assert p.loc[(452, 2000), "contrib_share"] == pytest.approx(3000 / 6010)
    assert panel["troops"].isna().all() and "un.csv" in codebook.set_index("column").loc["troops", "source"]


def test_bad_options_and_years(raw_dir):
    with pytest.raises(InputError, match="unknown panel options"):
        real.build_real_panel(raw_dir, {"yeras": [1990, 2000]})
    with pytest.raises(InputError, match="does not cover"):
        real.build_real_panel(raw_dir, {"years": [1985, 2000]})
    with pytest.raises(InputError, match="unknown covariates"):
        real.build_real_panel(raw_dir, {"covariates": ["gdp"]})
    with pytest.raises(InputError, match="demo source"):
        real.build_real_panel(raw_dir, {"source": "ipi", "file": "x.csv"})
    with pytest.raises(InputError, match="unknown keys in panel.contributions"):
        real.build_real_panel(raw_dir, {"source": "table", "contributions": {"fiel": "x"}})
    with pytest.raises(InputError, match="needs 'file'"):
        real.build_real_panel(raw_dir, {"source": "table", "contributions": {}})


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="input file not found"):
        real.build_real_panel(tmp_path, {})


def test_world_total_mismatch_fails():
    panel = pd.DataFrame({"year": [2000, 2000], "contrib_total": [1.0, 2.0]})
    world = pd.DataFrame({"n_periods": [12], "world_total": [4.0], "excluded_total": [0.0]}, index=[2000])
    nonmember = pd.DataFrame(columns=["ccode", "year", "contrib_total"])
    with pytest.raises(InputError, match="world total of year 2000"):
        real._check_world_totals(panel, world, nonmember)
    world.loc[2000, "excluded_total"] = 1.0
    real._check_world_totals(panel, world, nonmember)
