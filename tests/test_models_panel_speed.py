"""The shared per-year linear algebra of the panel ML engine (issue 16, speed): analytic Hessian of the
multi-channel log-Jacobian, batched inverses, the symmetriser of row-standardised weights."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_models_panel_helpers import simulate_panel

from interdep.models.design import build_design
from interdep.models.panel_ml import _LUJacobian, _symmetrizer, inverses, single_thread_blas


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


def test_inverses_equal_numpy_and_refuse_singular_matrices():
    a = np.random.default_rng(3).normal(size=(4, 6, 6)) + 3 * np.eye(6)
    np.testing.assert_allclose(inverses(a), np.linalg.inv(a), rtol=1e-12, atol=1e-14)
    a[2, :, 0] = 0.0
    with pytest.raises(np.linalg.LinAlgError):
        inverses(a)


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
