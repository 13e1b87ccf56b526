"""Country tables and code lookups: curated names, ISO3, G-W crosswalk, COW state-years."""

from __future__ import annotations

import pandas as pd
import pytest

from interdep.errors import InputError
from interdep.panel import countries


def test_countries_table_is_keyed_and_complete():
    c = countries.load_countries()
    assert list(c.columns) == ["ccode", "stateabb", "name", "iso3", "gwcode", "first_year", "last_year"]
    assert c["ccode"].is_unique and len(c) == 217
    assert c["iso3"].dropna().is_unique
    row = c.set_index("ccode").loc[255]
    assert (row["name"], row["iso3"], row["gwcode"]) == ("Germany", "DEU", 260)


def test_every_curated_name_maps_to_a_cow_code_or_has_a_reason():
    names = countries.load_country_names()
    mapped = names["ccode"].dropna()
    assert mapped.isin(countries.load_countries()["ccode"]).all()
    assert names.loc[names["ccode"].isna(), "reason"].notna().all()
    assert "State of Palestine" in set(countries.excluded_names()["name"])


@pytest.mark.parametrize(
    ("name", "year", "ccode"),
    [
        ("DR Congo", 2010, 490), ("Congo", 2010, 484), ("Cote d Ivoire", 2005, 437), ("Côte d'Ivoire", 2020, 437),
        ("Serbia", 1995, 345), ("Serbia", 2010, 345), ("Macedonia", 2010, 343),
        ("The former Yugoslav Republic of Macedonia", 2014, 343), ("Germany", 1991, 255), ("Sudan", 2012, 625),
        ("South Sudan", 2012, 626), ("Czech Republic", 1991, 315), ("Czech Republic", 1993, 316),
        ("  russian   federation ", 2000, 365), ("Ivory Coast", 2000, 437),  # COW name, case and spaces ignored
    ],
)
def test_map_names(name, year, ccode):
    out = countries.map_names(pd.Series([name]), pd.Series([year]), file="f.csv")
    assert out["ccode"].iloc[0] == ccode and pd.isna(out["excluded"].iloc[0])


def test_excluded_name_gives_missing_code_and_reason():
    out = countries.map_names(pd.Series(["Albania", "Total"]), pd.Series([2000, 2000]), file="f.csv")
    assert out["ccode"].iloc[0] == 339 and pd.isna(out["ccode"].iloc[1])
    assert "aggregate" in out["excluded"].iloc[1]


def test_unknown_name_names_file_row_value():
    with pytest.raises(InputError, match="country_names.csv") as err:
        countries.map_names(pd.Series(["Albania", "Atlantis"]), pd.Series([2000, 2000]), file="contrib.csv")
    assert (err.value.file, err.value.row, err.value.value) == ("contrib.csv", 3, "Atlantis")


def test_name_outside_its_years_raises():
    with pytest.raises(InputError, match="not valid in year 2000"):
        countries.map_names(pd.Series(["South Sudan"]), pd.Series([2000]), file="f.csv")


def test_iso3_lookup_and_unknown():
    out = countries.iso3_to_ccode(pd.Series(["USA", "nam", "XXX"]), file="f.csv", unknown="na")
    assert out.tolist()[:2] == [2, 565] and pd.isna(out.iloc[2])
    with pytest.raises(InputError) as err:
        countries.iso3_to_ccode(pd.Series(["USA", "XXX"]), file="f.csv")
    assert (err.value.row, err.value.value) == (3, "XXX")


def test_ccode_to_iso3_and_check_ccodes():
    assert countries.ccode_to_iso3(pd.Series([2, 565])).tolist() == ["USA", "NAM"]
    with pytest.raises(InputError, match="COW state list"):
        countries.check_ccodes(pd.Series([2, 9999]), file="f.csv")


def test_gw_crosswalk_keeps_continuing_state(tmp_path):
    path = tmp_path / "cw.csv"
    path.write_text(
        "stateabb,year,gwcode,ccode,gw_name,cw_name\n"
        "GFR,1989,260,260,a,b\nGFR,1990,260,260,a,b\nGMY,1990,260,255,a,b\nGMY,1991,260,255,a,b\n"
        "YUG,2005,345,345,a,b\nYUG,2006,340,345,a,b\nHAI,1816,41,,a,b\n"
    )
    xw = countries.read_gw_crosswalk(path)
    out = countries.gwcode_to_ccode(pd.Series([260, 260, 260, 340, 345, 41]),
                                    pd.Series([1989, 1990, 1991, 2006, 2005, 1816]), xw)
    assert out.tolist()[:5] == [260, 255, 255, 345, 345] and pd.isna(out.iloc[5])


def test_state_years_from_spells(tmp_path):
    path = tmp_path / "states.csv"
    path.write_text(
        "stateabb,ccode,statenme,styear,stmonth,stday,endyear,endmonth,endday,version\n"
        "GFR,260,West Germany,1955,5,5,1990,10,2,2016\n"
        "GMY,255,Germany,1816,1,1,1945,5,8,2016\nGMY,255,Germany,1990,10,3,2016,12,31,2016\n"
        "SSD,626,South Sudan,2011,7,9,2016,12,31,2016\n"
    )
    out = countries.read_state_years(path, (1989, 2018))
    assert out[out.ccode == 260]["year"].tolist() == [1989, 1990]
    assert out[out.ccode == 255]["year"].tolist() == list(range(1990, 2019))  # ongoing after 2016
    assert out[out.ccode == 626]["year"].min() == 2011
    assert not out.duplicated().any()
