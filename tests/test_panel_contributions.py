"""The IPI adapter, the generic long-table adapter, name mapping and yearly means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interdep.errors import InputError
from interdep.panel import contributions as c

IPI_HEADER = "Date,Contributor,Troops,Police,Experts\n"


def _ipi(tmp_path, body: str):
    path = tmp_path / "ipi.csv"
    path.write_text(IPI_HEADER + body)
    return path


def _mapped(path, system="name", **kw):
    return c.map_contributors(c.read_ipi_country_month(path), system, file=str(path), **kw)


def test_ipi_na_is_zero_and_total_is_sum(tmp_path):
    long = c.read_ipi_country_month(_ipi(tmp_path, "2010-01-31,Namibia,10,,2.0\n"))
    row = long.iloc[0]
    assert (row["troops"], row["police"], row["experts"], row["contrib_total"]) == (10, 0, 2, 12)
    assert row["country"] == "Namibia" and row["year"] == 2010 and str(row["period"]) == "2010-01"


def test_yearly_mean_over_covered_months_absent_month_is_zero(tmp_path):
    body = ("2010-01-31,Ghana,100,,\n2010-02-28,Ghana,200,,\n2010-03-31,Ghana,300,,\n"
            "2010-01-31,Fiji,30,,\n"  # no row for Fiji in Feb and Mar = 0
            "2011-01-31,Ghana,50,10,\n")
    state_year, world = c.yearly_contributions(_mapped(_ipi(tmp_path, body)))
    got = state_year.set_index(["ccode", "year"])["contrib_total"]
    assert got[(452, 2010)] == pytest.approx(200.0)
    assert got[(950, 2010)] == pytest.approx(10.0)
    assert got[(452, 2011)] == pytest.approx(60.0)
    assert world.loc[2010, "n_periods"] == 3 and world.loc[2011, "n_periods"] == 1
    assert world.loc[2010, "world_total"] == pytest.approx(210.0)


def test_two_spellings_in_different_months_are_united(tmp_path):
    body = "2014-02-28,Macedonia,10,,\n2014-03-31,The former Yugoslav Republic of Macedonia,20,,\n"
    state_year, _ = c.yearly_contributions(_mapped(_ipi(tmp_path, body)))
    assert state_year["ccode"].tolist() == [343]
    assert state_year["contrib_total"].iloc[0] == pytest.approx(15.0)


def test_two_spellings_in_the_same_month_are_a_duplicate_key(tmp_path):
    body = "2014-03-31,Macedonia,10,,\n2014-03-31,The former Yugoslav Republic of Macedonia,20,,\n"
    with pytest.raises(InputError, match="duplicate key") as err:
        _mapped(_ipi(tmp_path, body))
    assert err.value.row == 2


def test_czech_republic_before_1993_is_czechoslovakia(tmp_path):
    body = "1992-12-31,Czech Republic,499,,52\n1993-01-31,Czech Republic,490,,38\n1993-04-30,Slovakia,,,6\n"
    out = _mapped(_ipi(tmp_path, body))
    assert out["ccode"].tolist() == [315, 316, 317]


@pytest.mark.parametrize(
    ("row", "match"),
    [("2010-01-31,Ghana,ten,,\n", "non-numeric"), ("2010-01-31,Ghana,-1,,\n", "negative"),
     ("2010-13-31,Ghana,1,,\n", "unreadable date")],
)
def test_bad_values_name_the_row(tmp_path, row, match):
    with pytest.raises(InputError, match=match) as err:
        c.read_ipi_country_month(_ipi(tmp_path, "2010-01-31,Fiji,1,,\n" + row))
    assert err.value.row == 3


def test_unknown_name_stops(tmp_path):
    with pytest.raises(InputError, match="not in the curated table") as err:
        _mapped(_ipi(tmp_path, "2010-01-31,Narnia,1,,\n"))
    assert err.value.value == "Narnia"


def test_missing_columns(tmp_path):
    path = tmp_path / "ipi.csv"
    path.write_text("Date,Contributor,Troops\n2010-01-31,Ghana,1\n")
    with pytest.raises(InputError, match="missing columns"):
        c.read_ipi_country_month(path)


def test_generic_yearly_table_by_iso3(tmp_path):
    path = tmp_path / "un.csv"
    path.write_text("iso,yr,personnel\nGHA,2020,2000\nFJI,2020,\nNAM,2021,5\n")
    spec = {"country_column": "iso", "year_column": "yr", "value_columns": {"contrib_total": "personnel"}}
    long = c.map_contributors(c.read_contributions_table(path, spec), "iso3", file=str(path))
    state_year, world = c.yearly_contributions(long)
    got = state_year.set_index(["ccode", "year"])
    assert got.loc[(452, 2020), "contrib_total"] == 2000
    assert (950, 2020) not in got.index  # a zero row is not mapped (the panel gives members without a row 0)
    assert got.loc[(565, 2021), "contrib_total"] == 5
    assert got["troops"].isna().all()  # not reported by this source
    assert world["n_periods"].tolist() == [1, 1]


def test_generic_monthly_table_by_ccode_without_na_zero(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("cow,month,t,p\n452,2020-01,10,1\n452,2020-02,20,\n2,2020-01,4,0\n")
    spec = {"country_column": "cow", "date_column": "month", "value_columns": {"troops": "t", "police": "p"},
            "na_means_zero": False}
    long = c.map_contributors(c.read_contributions_table(path, spec), "ccode", file=str(path))
    state_year, _ = c.yearly_contributions(long)
    got = state_year.set_index("ccode")
    assert got.loc[452, "troops"] == 15 and np.isnan(got.loc[452, "police"])
    assert np.isnan(got.loc[452, "contrib_total"]) and got.loc[2, "contrib_total"] == 2


def test_generic_gwcode_table(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("gw,year,total\n340,2010,3\n")
    xw = pd.DataFrame({"gwcode": [340], "year": [2010], "ccode": [345]})
    spec = {"country_column": "gw", "year_column": "year", "value_columns": {"contrib_total": "total"}}
    long = c.map_contributors(c.read_contributions_table(path, spec), "gwcode", file=str(path), crosswalk=xw)
    assert long["ccode"].tolist() == [345]
    with pytest.raises(InputError, match="no COW state"):
        c.map_contributors(c.read_contributions_table(path, spec), "gwcode", file=str(path), crosswalk=xw.iloc[:0])


def test_generic_spec_errors(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("cow,year,total\n2,2010,3\n9999,2010,1\n")
    spec = {"country_column": "cow", "year_column": "year", "value_columns": {"contrib_total": "total"}}
    with pytest.raises(InputError, match="COW state list"):
        c.map_contributors(c.read_contributions_table(path, spec), "ccode", file=str(path))
    with pytest.raises(InputError, match="exactly one"):
        c.read_contributions_table(path, {**spec, "date_column": "year"})
    with pytest.raises(InputError, match="value_columns"):
        c.read_contributions_table(path, {**spec, "value_columns": {"soldiers": "total"}})
    with pytest.raises(InputError, match="country_code must be"):
        c.map_contributors(c.read_contributions_table(path, spec), "iso2", file=str(path))
