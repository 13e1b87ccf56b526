"""Unit and property-based tests of the source-independent weight operations (interdep.weights.graphs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interdep.errors import InputError
from interdep.weights.graphs import (
    EDGE_COLUMNS,
    SUMMARY_COLUMNS,
    check_islands,
    dense,
    eigenvalues,
    graph_from_dyads,
    graphs_from_edge_list,
    graphs_to_edge_list,
    islands,
    lag_graphs,
    summarise_graphs,
    symmetrise_graph,
    transform_graph,
)
from interdep.weights.moran import MORAN_COLUMNS, moran_by_year

IDS = [2, 20, 31, 40, 395]


def _dyads(pairs, values=None):
    df = pd.DataFrame(pairs, columns=["ccode", "neighbor"])
    if values is not None:
        df["value"] = values
    return df


@pytest.fixture
def small():
    # USA-Canada, USA->Bahamas (one direction: Bahamas has a zero row, an island), Cuba and Iceland islands;
    # 99 is not a state here and (2, 2) is a self link: both dropped.
    return graph_from_dyads(_dyads([(2, 20), (20, 2), (2, 31), (99, 2), (2, 2)]), [395, 2, 20, 31, 40])


# ------------------------------------------------------------------------------------------------ construction


def test_ids_are_the_states_sorted_and_islands_kept(small):
    assert list(small.unique_ids) == IDS
    assert islands(small) == [31, 40, 395]
    assert small.n_edges == 3
    w = dense(small)
    assert w[0, 1] == 1 and w[0, 2] == 1 and w[2, 0] == 0
    assert np.all(np.diag(w) == 0)


def test_values_and_symmetrise_take_the_max():
    g = graph_from_dyads(_dyads([(2, 20), (20, 2), (2, 31)], [3.0, 1.0, 2.0]), IDS, value="value", symmetrise=True)
    w = dense(g)
    assert w[0, 1] == w[1, 0] == 3.0
    assert w[0, 2] == w[2, 0] == 2.0


def test_zero_weights_are_not_links():
    g = graph_from_dyads(_dyads([(2, 20), (20, 2)], [0.0, 1.0]), IDS, value="value")
    assert islands(g) == [2, 31, 40, 395]


@pytest.mark.parametrize(
    ("pairs", "message"),
    [([(2, 2)], "self link"), ([(2, 99)], "not among"), ([(2, 20), (2, 20)], "duplicated")],
)
def test_strict_mode_names_row_and_value(pairs, message):
    with pytest.raises(InputError, match=message) as err:
        graph_from_dyads(_dyads(pairs), IDS, strict=True, source="user.csv")
    assert "user.csv" in str(err.value) and "row:" in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, -1.0, np.inf, "x"])
def test_bad_weights_raise(bad):
    df = _dyads([(2, 20), (20, 2)], [1.0, bad])
    with pytest.raises(InputError, match="non-negative"):
        graph_from_dyads(df, IDS, value="value")


def test_duplicated_valued_dyads_raise_even_when_lenient():
    with pytest.raises(InputError, match="duplicated"):
        graph_from_dyads(_dyads([(2, 20), (2, 20)], [1.0, 2.0]), IDS, value="value")


def test_missing_columns_and_bad_codes_raise():
    with pytest.raises(InputError, match="lacks column"):
        graph_from_dyads(pd.DataFrame({"ccode": [2]}), IDS)
    with pytest.raises(InputError, match="non-integer"):
        graph_from_dyads(pd.DataFrame({"ccode": ["USA"], "neighbor": [20]}), IDS)
    with pytest.raises(InputError, match="duplicate state codes"):
        graph_from_dyads(_dyads([(2, 20)]), [2, 2, 20])


# ------------------------------------------------------------------------------------------------ transformations


def test_row_transform_leaves_islands_as_zero_rows(small):
    w = dense(transform_graph(small, "row"))
    np.testing.assert_allclose(w.sum(axis=1), [1, 1, 0, 0, 0])


def test_spectral_and_raw(small):
    sym = symmetrise_graph(small)
    s = transform_graph(sym, "spectral")
    assert np.max(np.abs(eigenvalues(s))) == pytest.approx(1.0)
    assert transform_graph(sym, "raw") == sym
    with pytest.raises(ValueError, match="unknown transformation"):
        transform_graph(sym, "double")


def test_spectral_of_islands_only_is_unchanged():
    g = graph_from_dyads(_dyads([]), IDS)
    assert transform_graph(g, "spectral") == g


# ------------------------------------------------------------------------------------------------ islands, lag


def test_check_islands_reports_or_fails(small):
    report = check_islands({1990: small, 1991: symmetrise_graph(small)}, "contiguity", "keep")
    assert list(report.columns) == ["channel", "year", "ccode"]
    assert report["ccode"].tolist() == [31, 40, 395, 40, 395]
    with pytest.raises(InputError, match=r"'contiguity'.*1990.*\[31, 40, 395\]"):
        check_islands({1990: small}, "contiguity", "fail")
    full = graph_from_dyads(_dyads([(2, 20), (20, 2)]), [2, 20])
    assert check_islands({1990: full}, "x", "fail").empty


def test_lag_realigns_to_next_years_states(small):
    lagged = lag_graphs({1990: small}, 1, {1990: IDS, 1991: [2, 20, 41, 395]})
    assert list(lagged) == [1991]  # 1990 has no 1989 graph
    g = lagged[1991]
    assert list(g.unique_ids) == [2, 20, 41, 395]
    assert islands(g) == [41, 395]  # 41 is new in 1991; 31 is gone with the link 2 -> 31
    assert lag_graphs({1990: small}, 0) == {1990: small}


# ------------------------------------------------------------------------------------------------ export, summary


def test_edge_list_round_trip_and_format(small):
    graphs = {1991: transform_graph(small, "row"), 1990: small}
    el = graphs_to_edge_list(graphs)
    assert list(el.columns) == EDGE_COLUMNS
    assert (el["ccode"] != el["neighbor"]).all()
    assert el.equals(el.sort_values(["year", "ccode", "neighbor"], ignore_index=True))
    back = graphs_from_edge_list(el, {1990: IDS, 1991: IDS})
    assert all(back[y] == graphs[y] for y in graphs)


def test_edge_list_csv_round_trip(tmp_path, small):
    from interdep.io import read_table, write_table

    graphs = {1990: transform_graph(symmetrise_graph(small), "spectral")}
    write_table(graphs_to_edge_list(graphs), tmp_path / "w.csv")
    back = graphs_from_edge_list(read_table(tmp_path / "w.csv"), {1990: IDS})
    assert back[1990] == graphs[1990]


def test_edge_list_rejects_unknown_year_and_state(small):
    el = graphs_to_edge_list({1990: small})
    with pytest.raises(InputError, match="year without"):
        graphs_from_edge_list(el, {1991: IDS})
    with pytest.raises(InputError, match="not among"):
        graphs_from_edge_list(el, {1990: [2, 20]})


def test_summary(small):
    s = summarise_graphs({1990: transform_graph(symmetrise_graph(small), "row")})
    assert list(s.columns) == SUMMARY_COLUMNS
    row = s.iloc[0]
    assert (row.n, row.links, row.islands, row.components) == (5, 4, 2, 3)
    assert row.mean_neighbors == pytest.approx(0.8)
    assert row.eig_max == pytest.approx(1.0) and row.rho_max == pytest.approx(1.0)
    assert row.eig_min == pytest.approx(-1.0) and row.rho_min == pytest.approx(-1.0)


# ------------------------------------------------------------------------------------------------ Moran's I


def test_moran_by_year_is_deterministic_and_matches_formula():
    ids = list(range(10, 20))
    chain = [(i, i + 1) for i in ids[:-1]] + [(i + 1, i) for i in ids[:-1]]
    g = transform_graph(graph_from_dyads(_dyads(chain), ids), "row")
    panel = pd.DataFrame(
        {
            "ccode": ids * 2,
            "year": [2000] * 10 + [2001] * 10,
            "y": list(range(10)) + [0, 5, 1, 4, 2, 9, 3, 8, 6, np.nan],
        }
    )
    graphs = {2000: g, 2001: g}
    a = moran_by_year(panel, graphs, "y", permutations=99, seed=1)
    b = moran_by_year(panel, graphs, "y", permutations=99, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == MORAN_COLUMNS
    y = np.arange(10.0) - 4.5
    w = dense(g)
    expected = len(y) / w.sum() * (y @ w @ y) / (y @ y)
    assert a.loc[0, "moran_i"] == pytest.approx(expected)
    assert a.loc[0, "expected_i"] == pytest.approx(-1 / 9)
    assert a.loc[1, "n"] == 9  # missing outcome dropped
    assert 0 < a.loc[0, "p_sim"] <= 0.05


def test_moran_rejects_states_outside_graph():
    g = graph_from_dyads(_dyads([(2, 20), (20, 2)]), [2, 20, 31])
    panel = pd.DataFrame({"ccode": [2, 20, 31, 40], "year": 1990, "y": [1.0, 2, 3, 4]})
    with pytest.raises(InputError, match="not in the weights"):
        moran_by_year(panel, {1990: g}, "y")


# ------------------------------------------------------------------------------------------------ properties


@st.composite
def random_graphs(draw, valued=True):
    ids = draw(st.lists(st.integers(1, 999), min_size=1, max_size=12, unique=True))
    pairs = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=40, unique=True))
    values = draw(st.lists(st.floats(0.01, 100.0), min_size=len(pairs), max_size=len(pairs))) if valued else None
    return graph_from_dyads(_dyads(pairs, values), ids, value="value" if valued else None), ids


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(random_graphs())
def test_property_row_sums_one_or_zero(gi):
    g, _ = gi
    w = dense(transform_graph(g, "row"))
    sums = w.sum(axis=1)
    isl = np.isin(g.unique_ids, g.isolates)
    np.testing.assert_allclose(sums[~isl], 1.0)
    np.testing.assert_allclose(sums[isl], 0.0)


@FAST
@given(random_graphs())
def test_property_no_self_links_ids_sorted_and_pattern_kept(gi):
    g, ids = gi
    assert list(g.unique_ids) == sorted(ids)
    w = dense(g)
    assert np.all(np.diag(w) == 0)
    for how in ("row", "spectral", "raw"):
        np.testing.assert_array_equal(dense(transform_graph(g, how)) != 0, w != 0)


@FAST
@given(random_graphs())
def test_property_spectral_radius_one(gi):
    g, _ = gi
    radius = np.max(np.abs(np.linalg.eigvals(dense(transform_graph(g, "spectral")))))
    assert radius == pytest.approx(1.0) or (radius == 0 and g.n_edges == 0) or radius < 1e-9


@FAST
@given(random_graphs())
def test_property_symmetrise(gi):
    g, _ = gi
    w, s = dense(g), dense(symmetrise_graph(g))
    np.testing.assert_array_equal(s, s.T)
    np.testing.assert_array_equal(s, np.maximum(w, w.T))
    assert symmetrise_graph(symmetrise_graph(g)) == symmetrise_graph(g)


@FAST
@given(random_graphs(), st.sampled_from(["row", "spectral", "raw"]))
def test_property_edge_list_round_trip(gi, how):
    g, ids = gi
    t = transform_graph(g, how)
    assert graphs_from_edge_list(graphs_to_edge_list({2000: t}), {2000: ids})[2000] == t


@FAST
@given(random_graphs(), st.data())
def test_property_lag_equals_restriction(gi, data):
    g, ids = gi
    new_ids = data.draw(st.lists(st.integers(1, 999), min_size=1, max_size=12, unique=True))
    lagged = lag_graphs({1999: g}, 1, {2000: new_ids})[2000]
    assert list(lagged.unique_ids) == sorted(new_ids)
    keep = sorted(set(ids) & set(new_ids))
    full, sub = dense(g), dense(lagged)
    pos_old = np.searchsorted(sorted(ids), keep)
    pos_new = np.searchsorted(sorted(new_ids), keep)
    np.testing.assert_array_equal(sub[np.ix_(pos_new, pos_new)], full[np.ix_(pos_old, pos_old)])
    assert sub.sum() == pytest.approx(full[np.ix_(pos_old, pos_old)].sum())


@FAST
@given(random_graphs())
def test_property_row_transform_idempotent_and_rho_interval(gi):
    g, _ = gi
    r = transform_graph(g, "row")
    assert transform_graph(r, "row") == r
    sym = transform_graph(symmetrise_graph(g), "row")  # a directed W can be nilpotent (all eigenvalues 0)
    s = summarise_graphs({1: sym}).iloc[0]
    if g.n_edges:
        assert s.eig_max == pytest.approx(1.0) and s.rho_max == pytest.approx(1.0)
        assert s.rho_min <= -1.0 + 1e-9
