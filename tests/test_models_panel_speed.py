"""The shared per-year linear algebra of the panel ML engine (issue 16, speed): analytic Hessian of the
multi-channel log-Jacobian, batched inverses, the symmetriser of row-standardised weights, the reduction to the
states with neighbours, the Newton fit and its fallback."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_models_panel_helpers import simulate_panel

from interdep.models.design import build_design
from interdep.models.panel_ml import _LUJacobian, _symmetrizer, single_thread_blas, system_inverses


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with single_thread_blas():
        yield


def test_log_jacobian_hessian_equals_differences_of_its_gradient():
    panel, graphs = simulate_panel(n=40, t=3, rho=(0.3, 0.2), varying=True, seed=7, k=4)
    design = build_design({"id": "m", "weights": list(graphs), "outcome": "y", "regressors": ["x1", "x2"]},
                          panel, graphs)
    jac = _LUJacobian(design)
    rho, h = np.array([0.35, -0.1]), 1e-5
    numeric = np.column_stack([(jac(rho + h * e)[1] - jac(rho - h * e)[1]) / (2 * h) for e in np.eye(2)])
    np.testing.assert_allclose(jac.hessian(rho), numeric, rtol=1e-7)
    value, grad, ok = jac(rho, gradient=False)
    assert ok and value == jac(rho)[0] and not grad.any()


def test_system_inverses_equal_numpy_and_refuse_singular_matrices():
    rng = np.random.default_rng(3)
    stack = rng.normal(size=(2, 6, 6)) / 6
    rho = rng.uniform(-0.5, 0.5, size=(4, 2))
    a = np.eye(6) - np.einsum("dc,cij->dij", rho, stack)
    np.testing.assert_allclose(system_inverses(stack, rho), np.linalg.inv(a), rtol=1e-12, atol=1e-14)
    stack[:, :, 0] = 0.0
    stack[:, 0, 0] = 1.0  # rho = (0.5, 0.5): the first column of I - sum rho W is 0
    with pytest.raises(np.linalg.LinAlgError):
        system_inverses(stack, np.array([[0.1, 0.2], [0.5, 0.5]]))


def test_symmetrizer_over_several_components_and_islands():
    rng = np.random.default_rng(5)
    s = np.zeros((9, 9))
    for block in ([0, 1, 2, 3], [4, 5], [7, 8]):  # node 6 is an island
        for i in block:
            for j in block:
                if i < j:
                    s[i, j] = s[j, i] = rng.uniform(0.5, 2.0)
    rows = s.sum(axis=1)
    w = sp.csr_array(np.divide(s, rows[:, None], out=np.zeros_like(s), where=rows[:, None] > 0))
    d = _symmetrizer(w)
    lhs = d[:, None] * w.toarray()
    np.testing.assert_allclose(lhs, lhs.T, atol=1e-15)
    assert (d[[0, 1, 2, 3, 4, 5, 7, 8]] > 0).all()
    for block in ([0, 1, 2, 3], [4, 5], [7, 8]):  # the row sums of s, up to one scale per component
        np.testing.assert_allclose(d[block] / d[block[0]], rows[block] / rows[block[0]], rtol=1e-13)
    bent = w.toarray()
    bent[0, 1] *= 2  # the 0-1-2 cycle no longer closes: not similar to a symmetric matrix
    assert _symmetrizer(sp.csr_array(bent)) is None


def _isolating(design, states: list[int]):
    """The design with ``states`` isolated in every channel and year (zero rows and columns of each W)."""
    for c in design.channels:
        for t, w in enumerate(design.weights[c]):
            dense = w.toarray()
            dense[states, :] = 0.0
            dense[:, states] = 0.0
            design.weights[c][t] = sp.csr_array(dense)
    return design


def test_states_without_neighbours_drop_out_exactly():
    """The log-Jacobian, its derivatives, the inverses at rho-hat and the impact functionals computed on the
    states with a neighbour equal the dense computation on every state."""
    from interdep.models import impacts as imp
    from interdep.models.panel_ml import connected_states, distinct_years, year_inverses

    panel, graphs = simulate_panel(n=30, t=3, rho=(0.3, 0.2), varying=True, seed=3, k=4)
    design = _isolating(build_design({"id": "m", "weights": list(graphs), "outcome": "y",
                                      "regressors": ["x1", "x2"]}, panel, graphs), [0, 5, 7])
    rho = np.array([0.25, 0.15])
    value, grad, hess, ok = _LUJacobian(design).derivatives(rho)
    ref = {"value": 0.0, "grad": np.zeros(2), "hess": np.zeros((2, 2)), "tr": 0.0, "trw": np.zeros(2),
           "one": 0.0, "trww": np.zeros((2, 2))}
    for (mats, mult), ainv in zip(distinct_years(design), year_inverses(design, rho), strict=True):
        assert len(connected_states(mats)) == mats[0].shape[0] - 3
        a = np.eye(mats[0].shape[0]) - rho[0] * mats[0] - rho[1] * mats[1]
        inv = np.linalg.inv(a)
        np.testing.assert_allclose(ainv, inv, rtol=1e-12, atol=1e-14)
        ref["value"] += mult * np.linalg.slogdet(a)[1]
        ref["tr"] += mult * np.trace(inv)
        ref["one"] += mult * inv.sum()
        for c in range(2):
            ref["grad"][c] -= mult * np.trace(inv @ mats[c])
            ref["trw"][c] += mult * np.trace(inv @ mats[c])
            for d in range(2):
                ref["hess"][c, d] -= mult * np.trace(inv @ mats[c] @ inv @ mats[d])
                ref["trww"][c, d] += mult * np.trace(inv @ mats[c] @ mats[d])
    assert ok
    np.testing.assert_allclose([value, *grad, *hess.ravel()], [ref["value"], *ref["grad"], *ref["hess"].ravel()],
                               rtol=1e-12)
    for f in (imp._exact_functionals(design, rho[None]), imp._exact_functionals(design, np.vstack([rho, rho]))):
        np.testing.assert_allclose(f.tr, ref["tr"], rtol=1e-12)
        np.testing.assert_allclose(f.one, ref["one"], rtol=1e-12)
        np.testing.assert_allclose(f.trw[-1], ref["trw"], rtol=1e-12)
        np.testing.assert_allclose(f.trww[-1], ref["trww"], rtol=1e-12)


def test_newton_from_the_one_channel_maxima_equals_the_quasi_newton_fallback(monkeypatch):
    """The two-rho fit reaches the same maximum when the Newton steps from the one-channel start are refused
    (forcing the bounded quasi-Newton search from 0, then Newton)."""
    from interdep.models import panel_ml
    from interdep.models.panel_ml import fit_sar_ml

    panel, graphs = simulate_panel(n=60, t=4, rho=(0.3, 0.2), varying=True, seed=11, k=4, effects="twoway")
    spec = {"id": "m", "weights": list(graphs), "outcome": "y", "regressors": ["x1", "x2"], "effects": "twoway"}
    direct = fit_sar_ml(build_design(spec, panel, graphs))
    newton, calls = panel_ml._newton, []

    def refuse_first(evaluate, x, bounds, iters=4):
        calls.append(x)
        return (x, np.inf) if len(calls) == 1 else newton(evaluate, x, bounds, iters)

    monkeypatch.setattr(panel_ml, "_newton", refuse_first)
    fallback = fit_sar_ml(build_design(spec, panel, graphs))
    assert len(calls) == 2 and direct.converged and fallback.converged
    np.testing.assert_allclose(fallback.params, direct.params, rtol=1e-10)
    np.testing.assert_allclose(fallback.std_errors, direct.std_errors, rtol=1e-10)


def test_impact_functionals_through_year_to_year_updates_equal_dense_inverses():
    """An unbalanced panel with one W (so a year differs from the previous one in the rows of the states
    dropped and their neighbours): the functionals of the impacts, whose inverses pass from year to year by
    Woodbury updates, equal those of dense inverses year by year."""
    from interdep.models import impacts as imp
    from interdep.models.panel_ml import distinct_years

    panel, graphs = simulate_panel(n=40, t=6, rho=(0.3, 0.2), varying=False, drop=0.02, seed=5, k=4)
    design = build_design({"id": "m", "weights": list(graphs), "outcome": "y", "regressors": ["x1", "x2"]},
                          panel, graphs)
    chain = imp._year_chain(design)
    assert chain[0][-1] is None and sum(u is not None and len(u[0]) > 0 for *_, u in chain) >= 2
    rho = np.array([[0.25, 0.15], [0.4, -0.1], [-0.3, 0.35]])
    f = imp._exact_functionals(design, rho)
    for i, r in enumerate(rho):
        ref = np.zeros(f.pack().shape[1])
        for mats, mult in distinct_years(design):
            inv = np.linalg.inv(np.eye(mats[0].shape[0]) - r[0] * mats[0] - r[1] * mats[1])
            rows = [m.sum(axis=1) for m in mats]
            ref += mult * np.concatenate([
                [np.trace(inv)], [np.trace(inv @ m) for m in mats], [inv.sum()], [inv.sum(axis=0) @ v for v in rows],
                [np.trace(inv @ a @ b) for a in mats for b in mats],
                [inv.sum(axis=0) @ a @ v for a in mats for v in rows]])
        np.testing.assert_allclose(f.pack()[i], ref, rtol=1e-12)
