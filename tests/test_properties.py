"""Property-based tests (hypothesis) of the weights invariants and the log-determinant identity.

tests/test_weights_graphs.py already checks row sums, no self links, sorted ids, the spectral radius, symmetrising,
the edge-list round trip, lagging and idempotence of the row transform; the properties here are the ones it does not:
order and scale invariance, the summary's agreement with the edge list, and

    log|I - rho W| = sum_i log(1 - rho lambda_i)   for rho in the admissible interval (1/lambda_min, 1/lambda_max),

as used by the ML estimators (per year, and summed over the years of a panel).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from interdep.models.cross_section import _LogDet
from interdep.weights.graphs import (
    dense,
    eigenvalues,
    graph_from_dyads,
    graphs_to_edge_list,
    islands,
    summarise_graphs,
    symmetrise_graph,
    transform_graph,
)

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def dyad_tables(draw, max_states: int = 12):
    """(dyads with positive values, ids): directed, no duplicates; self links and outsiders allowed (dropped)."""
    ids = draw(st.lists(st.integers(1, 999), min_size=1, max_size=max_states, unique=True))
    codes = st.sampled_from([*ids, 1000])  # 1000: not a state of the year
    pairs = draw(st.lists(st.tuples(codes, codes), max_size=40, unique=True))
    values = draw(st.lists(st.floats(0.01, 100.0), min_size=len(pairs), max_size=len(pairs)))
    frame = pd.DataFrame(pairs, columns=["ccode", "neighbor"], dtype="int64").assign(value=values)
    return frame, ids


@FAST
@given(dyad_tables(), st.randoms(use_true_random=False))
def test_graph_does_not_depend_on_row_order(table, rnd):
    dyads, ids = table
    order = list(range(len(dyads)))
    rnd.shuffle(order)
    shuffled_ids = list(ids)
    rnd.shuffle(shuffled_ids)
    a = graph_from_dyads(dyads, ids, value="value")
    b = graph_from_dyads(dyads.iloc[order], shuffled_ids, value="value")
    np.testing.assert_array_equal(dense(a), dense(b))
    assert list(a.unique_ids) == list(b.unique_ids) == sorted(ids)


@FAST
@given(dyad_tables(), st.floats(0.1, 50.0))
def test_row_transform_ignores_the_scale_of_the_weights(table, scale):
    dyads, ids = table
    a = transform_graph(graph_from_dyads(dyads, ids, value="value"), "row")
    b = transform_graph(graph_from_dyads(dyads.assign(value=dyads["value"] * scale), ids, value="value"), "row")
    np.testing.assert_allclose(dense(a), dense(b), rtol=1e-12, atol=1e-15)


@FAST
@given(dyad_tables(), st.sampled_from(["row", "spectral", "raw"]))
def test_summary_agrees_with_the_edge_list_and_islands(table, how):
    dyads, ids = table
    g = transform_graph(graph_from_dyads(dyads, ids, value="value"), how)
    edges = graphs_to_edge_list({2000: g})
    summary = summarise_graphs({2000: g}).iloc[0]
    w = dense(g)
    assert summary.n == len(ids)
    assert summary.links == len(edges) == int((w != 0).sum())
    zero_rows = [int(i) for i, row in zip(g.unique_ids, w, strict=True) if not row.any()]
    assert islands(g) == zero_rows and summary.islands == len(zero_rows)
    assert not set(edges["ccode"]) & set(zero_rows)
    assert (edges["weight"] > 0).all() and not (edges["ccode"] == edges["neighbor"]).any()


# --------------------------------------------------------------------------------------- log-determinant


@st.composite
def admissible(draw, symmetric: bool = True):
    """A row-standardised W (from a symmetric pattern: real eigenvalues) and a rho inside its interval."""
    dyads, ids = draw(dyad_tables(max_states=10))
    g = graph_from_dyads(dyads, ids, value="value")
    if symmetric:
        g = symmetrise_graph(g)
    w = transform_graph(g, "row")
    lam = eigenvalues(w)
    lo = 1 / lam[0] if lam[0] < -1e-9 else -np.inf
    hi = 1 / lam[-1] if lam[-1] > 1e-9 else np.inf
    u = draw(st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
    lo_, hi_ = max(lo, -5.0), min(hi, 5.0)
    rho = lo_ + u * (hi_ - lo_)
    assume(min(rho - lo, hi - rho) > 1e-6)
    return dense(w), lam, rho


@FAST
@given(admissible())
def test_log_determinant_equals_sum_over_eigenvalues(case):
    w, lam, rho = case
    sign, logdet = np.linalg.slogdet(np.eye(w.shape[0]) - rho * w)
    assert sign > 0  # inside the admissible interval I - rho W is invertible with a positive determinant
    assert logdet == pytest.approx(np.sum(np.log(1 - rho * lam)), abs=1e-8)


@FAST
@given(admissible(), admissible())
def test_estimators_log_determinant_over_a_stacked_panel(a, b):
    """The ML estimators' log|I - rho W| of a block-diagonal (stacked years) W, and its first two derivatives."""
    (w1, _, r1), (w2, _, r2) = a, b
    W = sp.csr_matrix(sp.block_diag([w1, w2]))
    W.eliminate_zeros()  # as the estimators receive W (explicit zeros are dropped by the design's input checks)
    logdet = _LogDet(W)
    lo, hi = logdet.bounds()
    rho = min(max(r1, r2), 0.5 * hi) if max(r1, r2) > 0 else max(min(r1, r2), 0.5 * lo)
    assume(lo + 1e-4 < rho < hi - 1e-4)
    expected = sum(np.linalg.slogdet(np.eye(m.shape[0]) - rho * m)[1] for m in (w1, w2))
    assert logdet(rho) == pytest.approx(expected, abs=1e-8)
    h = 1e-6
    numeric_d1 = (logdet(rho + h) - logdet(rho - h)) / (2 * h)
    assert logdet.d1(rho) == pytest.approx(numeric_d1, rel=1e-4, abs=1e-5)
    # d2 = -trace((W (I - rho W)^-1)^2) <= 0: the log-determinant is concave in rho
    assert logdet.d2(rho) <= 1e-10
