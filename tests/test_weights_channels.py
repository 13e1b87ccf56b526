"""Channels built from the raw sources: facts anyone can check in them, invariants, options, timing.

Real-data tests need the raw sources (env ``INTERDEP_RAW_DIR``, default ``../shared/data`` beside the
repository); they skip with a stated reason when it is absent, and fail instead under ``CI=true``.

The states of each year (``ids_by_year``) are taken here from COW states2016: a state belongs to year t when
one of its membership spells covers 31 December of t (so Namibia, admitted in March 1990, is in 1990, and the
German Federal Republic, ended 2 October 1990, is not).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interdep.errors import InputError
from interdep.io import read_table, write_table
from interdep.weights.channels import (
    build_channel,
    capitals_in_year,
    great_circle_km,
    link_coordinates,
    resolve_spec,
)
from interdep.weights.graphs import (
    dense,
    eigenvalues,
    graphs_from_edge_list,
    graphs_to_edge_list,
    islands,
    summarise_graphs,
)
from interdep.weights.moran import moran_by_year

YEARS = range(1990, 2015)
RAW_DIR = Path(os.environ.get("INTERDEP_RAW_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))

SPECS = {
    "contiguity": {"type": "contiguity"},
    "contiguity_water": {"type": "contiguity", "max_type": 5, "transform": "raw"},
    "mindist_band": {"type": "distance", "kernel": "band", "cutoff_km": 950},
    "mindist_inverse": {"type": "distance", "kernel": "inverse", "snapshot": "dec31", "transform": "spectral"},
    "capital_inverse2": {"type": "distance", "source": "capitals", "power": 2},
    "capital_knn": {"type": "distance", "source": "capitals", "kernel": "knn", "k": 4, "symmetrise": True},
    "capital_exp": {"type": "distance", "source": "capitals", "kernel": "exponential", "scale_km": 2000},
    "atop_defense": {"type": "alliance"},
    "atop_shared": {"type": "alliance", "obligation": "any", "weighting": "count", "transform": "raw"},
    "cow_defense_lag": {"type": "alliance", "source": "cow", "lag": 2},
    "igo": {"type": "igo"},
    "unga": {"type": "unga"},
    "unga_knn": {"type": "unga", "similarity": "knn", "k": 10},
}
SYMMETRIC = {"contiguity", "contiguity_water", "mindist_band", "mindist_inverse", "capital_inverse2",
             "capital_knn", "capital_exp", "atop_shared", "igo", "unga"}  # fmt: skip
USA, CAN, UK, ICELAND, EGYPT, ISRAEL, TAIWAN = 2, 20, 200, 395, 651, 666, 713


def _raw_dir() -> Path:
    if (RAW_DIR / "cow_states" / "states2016.csv").exists():
        return RAW_DIR
    reason = f"raw sources not found in {RAW_DIR} (set INTERDEP_RAW_DIR)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; required under CI=true")
    pytest.skip(reason)


def states_by_year(raw_dir: Path, years) -> dict[int, list[int]]:
    """COW states2016 members on 31 December of each year."""
    st = read_table(raw_dir / "cow_states" / "states2016.csv")
    start = st["styear"] * 10000 + st["stmonth"] * 100 + st["stday"]
    end = st["endyear"] * 10000 + st["endmonth"] * 100 + st["endday"]
    return {y: sorted(int(c) for c in st["ccode"][(start <= y * 10000 + 1231) & (end >= y * 10000 + 1231)].unique())
            for y in years}  # fmt: skip


@pytest.fixture(scope="module")
def raw_dir() -> Path:
    return _raw_dir()


@pytest.fixture(scope="module")
def ids(raw_dir) -> dict[int, list[int]]:
    return states_by_year(raw_dir, YEARS)


@pytest.fixture(scope="module")
def built(raw_dir, ids) -> dict[str, tuple[dict, float]]:
    out = {}
    for name, spec in SPECS.items():
        t0 = time.perf_counter()
        graphs = build_channel({"name": name, **spec}, ids, raw_dir)
        out[name] = (graphs, time.perf_counter() - t0)
    return out


def _w(g, i, j):
    pos = {c: k for k, c in enumerate(g.unique_ids)}
    return dense(g)[pos[i], pos[j]]


# ------------------------------------------------------------------------------------------------ facts


@pytest.mark.realdata
def test_usa_canada_land_border_every_year(built):
    graphs, _ = built["contiguity"]
    assert all(_w(graphs[y], USA, CAN) > 0 and _w(graphs[y], CAN, USA) > 0 for y in YEARS)


@pytest.mark.realdata
def test_egypt_israel_contiguous_every_year(built):
    graphs, _ = built["contiguity"]
    assert all(_w(graphs[y], EGYPT, ISRAEL) > 0 for y in YEARS)


@pytest.mark.realdata
def test_iceland_has_no_land_neighbour(built):
    graphs, _ = built["contiguity"]
    assert all(ICELAND in islands(graphs[y]) for y in YEARS)


@pytest.mark.realdata
def test_usa_uk_defence_pact_2000(built):
    for name in ("atop_defense", "atop_shared"):
        g = built[name][0][2000]
        assert _w(g, USA, UK) > 0 and _w(g, UK, USA) > 0, name
    assert _w(built["atop_shared"][0][2000], USA, UK) >= 1  # NATO at least: a count, untransformed


@pytest.mark.realdata
def test_cshapes_neighbours_within_950km_and_capital_distance(built, raw_dir):
    assert _w(built["mindist_band"][0][2000], USA, CAN) > 0
    caps = capitals_in_year(raw_dir / "capitals" / "cow_capitals_peacesciencer.csv", 2000, [USA, CAN])
    km = great_circle_km(caps.lat.iloc[0], caps.lng.iloc[0], caps.lat.iloc[1], caps.lng.iloc[1])
    assert 700 < km < 770  # Washington - Ottawa, about 735 km


@pytest.mark.realdata
def test_link_coordinates_for_the_map(built, raw_dir):
    g = built["contiguity"][0][2000]
    links = link_coordinates(g, 2000, raw_dir / "capitals" / "cow_capitals_peacesciencer.csv")
    assert list(links.columns) == ["ccode", "neighbor", "weight", "lat", "lng", "lat_neighbor", "lng_neighbor"]
    assert len(links) == g.n_edges and links[["lat", "lng", "lat_neighbor", "lng_neighbor"]].notna().all().all()
    usa_can = links.query("ccode == @USA and neighbor == @CAN").iloc[0]
    assert usa_can.lat == pytest.approx(38.895, abs=0.01) and usa_can.lat_neighbor == pytest.approx(45.42, abs=0.01)


@pytest.mark.realdata
def test_moran_of_capital_latitude_under_contiguity_is_strongly_positive(built, raw_dir, ids):
    caps = capitals_in_year(raw_dir / "capitals" / "cow_capitals_peacesciencer.csv", 2000, ids[2000])
    panel = caps.assign(year=2000)[["ccode", "year", "lat"]]
    result = moran_by_year(panel, built["contiguity"][0], "lat", permutations=199, seed=7)
    assert list(result["year"]) == [2000]
    assert result.loc[0, "moran_i"] > 0.5 and result.loc[0, "p_sim"] == pytest.approx(1 / 200)


@pytest.mark.realdata
def test_capitals_respect_dates(raw_dir):
    path = raw_dir / "capitals" / "cow_capitals_peacesciencer.csv"
    brazil = {y: capitals_in_year(path, y, [140]).iloc[0] for y in (1950, 1960, 1965)}
    assert brazil[1950].capital == "Rio de Janeiro" and -23 < brazil[1950].lat < -22
    assert brazil[1960].capital == brazil[1965].capital == "Brasilia"  # moved 21 April 1960: end-of-year rule
    # the source's Brasilia (-10.33, -53.2) is Brazil's centroid, not the city (-15.8, -47.9): taken as is
    assert brazil[1965].lat == pytest.approx(-10.333, abs=0.01)
    with pytest.raises(InputError, match="no capital"):
        capitals_in_year(path, 2000, [USA, 9999])


@pytest.mark.realdata
def test_igo_counts_are_the_sources(built, raw_dir):
    igo = read_table(raw_dir / "cow_igo" / "cow_igo_ndy_peacesciencer.csv.gz")
    shared = igo.query("ccode1 == @USA and ccode2 == @CAN and year == 2000")["dyadigos"].item()
    g = build_channel({"name": "igo_raw", "type": "igo", "transform": "raw"}, {2000: [USA, CAN, UK]}, raw_dir)[2000]
    assert _w(g, USA, CAN) == shared == _w(g, CAN, USA)
    assert built["igo"][0][2000].n_edges > 0


@pytest.mark.realdata
def test_taiwan_is_an_unga_island(built):
    for name in ("unga", "unga_knn"):
        assert all(TAIWAN in islands(built[name][0][y]) for y in YEARS)


@pytest.mark.realdata
def test_cow_alliances_end_in_2012(raw_dir):
    with pytest.raises(InputError, match="covers years 1816-2012") as err:
        build_channel({"name": "cow", "type": "alliance", "source": "cow"}, {2014: [USA, UK]}, raw_dir)
    assert "2014" in str(err.value) and "cow_alliance" in str(err.value)


# ------------------------------------------------------------------------------------------------ invariants


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(SPECS))
def test_invariants(built, ids, name, tmp_path):
    graphs, _ = built[name]
    assert sorted(graphs) == list(YEARS)
    for year, g in graphs.items():
        assert list(g.unique_ids) == ids[year]
        w = dense(g)
        assert np.all(np.diag(w) == 0) and np.all(w >= 0)
        isl = np.isin(g.unique_ids, g.isolates)
        assert np.all(w[isl].sum(axis=1) == 0)
        if SPECS[name].get("transform", "row") == "row":
            np.testing.assert_allclose(w[~isl].sum(axis=1), 1.0)
        if SPECS[name].get("transform") == "spectral":
            assert np.max(np.abs(eigenvalues(g))) == pytest.approx(1.0)
        if name in SYMMETRIC:
            np.testing.assert_array_equal(w != 0, (w != 0).T)
    some = {y: graphs[y] for y in (1990, 2002, 2014)}  # dense channels have ~900,000 links in 25 years
    write_table(graphs_to_edge_list(some), tmp_path / f"{name}.csv")
    back = graphs_from_edge_list(read_table(tmp_path / f"{name}.csv"), {y: ids[y] for y in some})
    assert all(back[y] == some[y] for y in some)


@pytest.mark.realdata
def test_lag_uses_previous_years_source(raw_dir, ids):
    spec = {"name": "c", "type": "contiguity", "transform": "raw"}
    lagged = build_channel({**spec, "lag": 1}, {2000: ids[2000]}, raw_dir)[2000]
    direct = build_channel(spec, {1999: ids[2000]}, raw_dir)[1999]
    assert lagged == direct


@pytest.mark.realdata
def test_islands_fail_policy_names_channel_year_and_states(raw_dir, ids):
    spec = {"name": "land", "type": "contiguity", "islands": "fail"}
    with pytest.raises(InputError, match=r"'land'.*1990.*395"):
        build_channel(spec, {1990: ids[1990]}, raw_dir)


@pytest.mark.realdata
def test_snapshot_dec31_gives_new_states_their_distances(raw_dir, ids):
    spec = {"name": "d", "type": "distance", "kernel": "band", "cutoff_km": 950}
    jan = build_channel(spec, {1990: ids[1990]}, raw_dir)[1990]
    dec = build_channel({**spec, "snapshot": "dec31"}, {1990: ids[1990]}, raw_dir)[1990]
    assert 565 in islands(jan) and 565 not in islands(dec)  # Namibia, independent on 21 March 1990


@pytest.mark.realdata
def test_building_every_channel_takes_seconds(built):
    seconds = {name: round(t, 2) for name, (_, t) in built.items()}
    total = sum(seconds.values())
    print(f"\nbuild seconds per channel, 1990-2014: {seconds}; total {total:.1f} s")
    t0 = time.perf_counter()
    for graphs, _ in built.values():
        summarise_graphs(graphs)
    print(f"summaries (eigenvalues) of all channels: {time.perf_counter() - t0:.1f} s")
    assert total < 120


# ------------------------------------------------------------------------------------------------ spec checks


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "rail"}, "unknown channel type"),
        ({"type": "contiguity", "kernel": "knn"}, "not used by a contiguity channel"),
        ({"type": "contiguity", "max_type": 6}, "max_type"),
        ({"type": "distance", "kernel": "band"}, "needs cutoff_km"),
        ({"type": "distance", "kernel": "gauss"}, "kernel must be one of"),
        ({"type": "distance", "power": -1}, "positive"),
        ({"type": "distance", "k": 0}, "integer >= 1"),
        ({"type": "contiguity", "lag": -1}, "integer >= 0"),
        ({"type": "contiguity", "transform": "double"}, "transform must be one of"),
        ({"type": "alliance", "weighting": "count"}, "only for source atop with obligation any"),
        ({"type": "alliance", "source": "cshapes"}, "alliance source"),
        ({"type": "dyads"}, "needs file"),
    ],
)
def test_spec_errors_name_the_channel(spec, message):
    with pytest.raises(InputError, match=message) as err:
        resolve_spec({"name": "x", **spec})
    assert "weights channel 'x'" in str(err.value)


def test_spec_defaults():
    spec = resolve_spec({"name": "d", "type": "distance"})
    assert spec["transform"] == "row" and spec["islands"] == "keep" and spec["lag"] == 0
    assert spec["kernel"] == "inverse" and spec["source"] == "cshapes" and spec["snapshot"] == "jan1"


# ------------------------------------------------------------------------------------------------ user dyads


def _write(tmp_path, text):
    path = tmp_path / "trade.csv"
    path.write_text(text)
    return path


def test_user_dyads_channel(tmp_path):
    path = _write(tmp_path, "ccode1,ccode2,year,value\n2,20,2000,3\n20,2,2000,1\n2,200,2000,1\n2,20,2001,2\n")
    spec = {"name": "trade", "type": "dyads", "file": str(path), "transform": "raw", "symmetrise": True}
    graphs = build_channel(spec, {2000: [2, 20, 200, 395], 2001: [2, 20]}, tmp_path)
    assert _w(graphs[2000], 2, 20) == 3 == _w(graphs[2000], 20, 2)
    assert _w(graphs[2000], 200, 2) == 1 and islands(graphs[2000]) == [395]
    assert _w(graphs[2001], 2, 20) == 2 and islands(graphs[2001]) == [20] or _w(graphs[2001], 20, 2) == 2


def test_user_dyads_relative_file_and_binary_mirror(tmp_path):
    _write(tmp_path, "ccode1,ccode2,year\n2,20,2000\n")
    spec = {"name": "t", "type": "dyads", "file": "trade.csv", "value": None, "mirror": True}
    g = build_channel(spec, {2000: [2, 20]}, tmp_path)[2000]
    assert _w(g, 2, 20) == 1 == _w(g, 20, 2)


@pytest.mark.parametrize(
    ("rows", "message", "line"),
    [
        ("2,20,2000,1\n2,2,2000,1\n", "self link", "row: 3"),
        ("2,20,2000,1\n2,999,2000,1\n", "not among", "row: 3"),
        ("2,20,2000,1\n2,20,2000,2\n", "duplicated", "row: 3"),
        ("2,20,2000,NA\n", "non-negative", "row: 2"),
    ],
)
def test_user_dyads_strict_errors_name_file_line_and_value(tmp_path, rows, message, line):
    path = _write(tmp_path, "ccode1,ccode2,year,value\n" + rows)
    spec = {"name": "t", "type": "dyads", "file": str(path)}
    with pytest.raises(InputError, match=message) as err:
        build_channel(spec, {2000: [2, 20]}, tmp_path)
    assert str(path) in str(err.value) and line in str(err.value)


def test_user_dyads_mirrored_strict_error_names_the_file_line(tmp_path):
    path = _write(tmp_path, "ccode1,ccode2,year,value\n2,20,2000,1\n20,2,2000,1\n")
    spec = {"name": "t", "type": "dyads", "file": str(path), "mirror": True}
    with pytest.raises(InputError, match=r"duplicated dyad.*row: 2.*\(20, 2\)"):
        build_channel(spec, {2000: [2, 20]}, tmp_path)


def test_user_dyads_lenient_drops_unknown_states_and_years_outside_fail(tmp_path):
    path = _write(tmp_path, "ccode1,ccode2,year,value\n2,20,2000,1\n2,999,2000,1\n")
    spec = {"name": "t", "type": "dyads", "file": str(path), "strict": False}
    assert build_channel(spec, {2000: [2, 20]}, tmp_path)[2000].n_edges == 1
    with pytest.raises(InputError, match="covers years 2000-2000"):
        build_channel(spec, {2001: [2, 20]}, tmp_path)
    with pytest.raises(InputError, match="not found"):
        build_channel({**spec, "file": "nope.csv"}, {2000: [2, 20]}, tmp_path)


def test_summary_of_user_channel(tmp_path):
    path = _write(tmp_path, "ccode1,ccode2,year,value\n2,20,2000,1\n20,2,2000,1\n")
    graphs = build_channel({"name": "t", "type": "dyads", "file": str(path)}, {2000: [2, 20, 31]}, tmp_path)
    row = summarise_graphs(graphs).iloc[0]
    assert (row.n, row.links, row.islands, row.components) == (3, 2, 1, 2)
    assert isinstance(summarise_graphs(graphs), pd.DataFrame)
