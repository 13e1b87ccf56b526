"""One test group per covariate reader, on small files written here."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from interdep.errors import InputError
from interdep.panel import covariates as cv


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_gdppop_logs(tmp_path):
    path = _write(tmp_path, "g.csv", "ccode,year,mrgdppc,sd_mrgdppc,pwtrgdp,sd_pwtrgdp,pwtpop,sd_pwtpop\n"
                  "2,2000,40000,1,1,1,280,1\n20,2000,,1,1,1,30,1\n")
    out = cv.read_gdppop(path)
    assert out.columns.tolist() == ["ccode", "year", "gdppc", "log_gdppc", "pop", "log_pop"]
    assert out["log_gdppc"].iloc[0] == pytest.approx(np.log(40000)) and np.isnan(out["log_gdppc"].iloc[1])


def test_duplicate_key_and_unknown_code_raise(tmp_path):
    head = "ccode,year,euds,aeuds,polity2,v2x_polyarchy\n"
    with pytest.raises(InputError, match="duplicate") as err:
        cv.read_democracy(_write(tmp_path, "d.csv", head + "2,2000,0,0,10,0.9\n2,2000,0,0,10,0.9\n"))
    assert err.value.row == 3
    with pytest.raises(InputError, match="COW state list"):
        cv.read_democracy(_write(tmp_path, "d2.csv", head + "9999,2000,0,0,10,0.9\n"))
    with pytest.raises(InputError, match="polity2 outside"):
        cv.read_democracy(_write(tmp_path, "d3.csv", head + "2,2000,0,0,-88,0.9\n"))


def test_nmc_minus_nine_is_missing(tmp_path):
    path = _write(tmp_path, "n.csv", "stateabb,ccode,year,milex,milper,irst,pec,tpop,upop,cinc,version\n"
                  "USA,2.0,2000,-9,1400,1,1,1,1,0.1,2021\nCAN,20.0,2000,8000,-9,1,1,1,1,0.1,2021\n")
    out = cv.read_nmc(path).set_index("ccode")
    assert np.isnan(out.loc[2, "milex"]) and out.loc[2, "milper"] == 1400
    assert np.isnan(out.loc[20, "milper"]) and out.loc[20, "log_milex"] == pytest.approx(np.log1p(8000))


def test_unga(tmp_path):
    path = _write(tmp_path, "u.csv", "ccode,iso3c,countryname,year,idealpointall,idealpointfp\n"
                  "2,USA,United States,2000.0,3.0,2.0\n")
    assert cv.read_unga(path)["unga_idealpoint"].tolist() == [3.0]
    assert cv.read_unga(path, "idealpointfp")["unga_idealpoint"].tolist() == [2.0]


@pytest.fixture
def conflict(tmp_path):
    acd = _write(tmp_path, "acd.csv", "conflict_id,year,gwno_a,gwno_a_2nd,gwno_b,intensity_level,type_of_conflict\n"
                 "1,2000,490,,,1,intrastate\n1,2000,490,2,,1,II\n2,2000,2,,645,2,interstate\n"
                 "3,2001,751,,,1,intrastate\n")
    xw = pd.DataFrame({"gwcode": [490, 2, 645], "year": [2000, 2000, 2000], "ccode": [490, 2, 645]})
    return cv.read_conflict(acd, xw)


def test_conflict_own_counts_intrastate_government_side(conflict):
    assert conflict[["ccode", "year"]].values.tolist() == [[490, 2000]]
    assert conflict.attrs["years"] == (2000, 2001)
    keys = pd.DataFrame({"ccode": [490, 2, 490, 490], "year": [2000, 2000, 2001, 2005]})
    assert cv.conflict_own(keys, conflict).tolist()[:3] == [1, 0, 0]
    assert np.isnan(cv.conflict_own(keys, conflict).iloc[3])  # outside the source's years


def test_conflict_neighbour_over_land_borders(tmp_path, conflict):
    cont = _write(tmp_path, "c.csv", "dyad,state1no,state1ab,state2no,state2ab,year,conttype,version\n"
                  "1,500,UGA,490,DRC,2000,1,3.2\n2,490,DRC,500,UGA,2000,1,3.2\n"
                  "3,520,SOM,490,DRC,2000,4,3.2\n4,500,UGA,490,DRC,2001,1,3.2\n")
    land = cv.read_contiguity(cont)
    keys = pd.DataFrame({"ccode": [500, 520, 490, 500, 2], "year": [2000, 2000, 2000, 2001, 2000]})
    assert cv.conflict_neighbour(keys, conflict, land).tolist() == [1, 0, 0, 0, 0]
    sea = cv.read_contiguity(cont, max_type=5)
    assert cv.conflict_neighbour(keys, conflict, sea).tolist() == [1, 1, 0, 0, 0]


def test_refugees_hosted_sums_origins_and_drops_territories(tmp_path):
    path = tmp_path / "r.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("year,coo_name,coo,coo_iso,coa_name,coa,coa_iso,refugees\n"
                "2000,a,A,SOM,k,K,KEN,100\n2000,b,B,SDN,k,K,KEN,50\n2000,c,C,CHN,h,H,HKG,7\n"
                "2000,d,D,UNK,n,N,NAM,\n")
    out = cv.read_refugees(path).set_index("ccode")
    assert out.loc[501, "refugees_hosted"] == 150 and np.isnan(out.loc[565, "refugees_hosted"])
    assert out.attrs["dropped_codes"] == ["HKG"]


def test_p5_china_seat():
    keys = pd.DataFrame({"ccode": [710, 710, 713, 2, 750], "year": [1970, 1971, 1970, 2000, 2000]})
    assert cv.p5(keys).tolist() == [0, 1, 1, 1, 0]
