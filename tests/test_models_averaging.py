"""Bayesian model averaging over channel subsets (interdep.models.bayes.averaging).

References computed here independently of the package's sampler: the posterior of one channel's SAR / SDM by
quadrature over rho with dense per-year log-determinants and inverses; the posterior of a two-channel subset by a
trapezoid rule over gamma (instead of importance sampling); the trace functionals by dense inverses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interdep.models.bayes.averaging import _candidate_mc_var, _factors, average_channels, candidate_draws
from interdep.models.bayes.conv import ConvexLogJacobian
from interdep.models.bayes.marginal import (
    Candidate,
    _lag_marginal,
    _mixture_design,
    choose_channels,
    subset_marginal,
)
from interdep.models.design import build_design
from interdep.models.panel_ml import _parts, distinct_years
from interdep.montecarlo import Channel, design_graphs, simulate
from interdep.montecarlo import Design as MCDesign

SPEC = {"channels": ["a", "b"], "model_types": ["sar", "sdm"], "outcome": "y", "regressors": ["x1", "x2"]}


def _panel(rho_a=0.5, rho_b=0.0, seed=3, n=40, t=5):
    mc = MCDesign(id="m", n=n, t=t, effects="twoway",
                  channels=(Channel("a", rho_a, varying=True), Channel("b", rho_b, varying=True)))
    graphs = design_graphs(mc, seed)
    panel = simulate(mc, graphs, seed, 0).drop(index=[3, 40, 41, 77, 100]).reset_index(drop=True)  # unbalanced
    return panel, graphs


def _quadrature(design, model_type):
    """Posterior means of one channel's model without effects by quadrature over rho: dense log-determinants,
    beta(rho) by least squares, impacts by dense inverses of every year's I - rho W_t."""
    c = design.channels[0]
    ws = [w.toarray() for w in design.weights[c]]
    X, y, wy = design.X, design.y, design.lag(c, design.y)
    n, k = X.shape
    lo = 1 / min(np.linalg.eigvals(w).real.min() for w in ws)

    def log_post(rho):
        e = y - rho * wy
        r = e - X @ np.linalg.lstsq(X, e, rcond=None)[0]
        return sum(np.linalg.slogdet(np.eye(len(w)) - rho * w)[1] for w in ws) - 0.5 * (n - k) * np.log(r @ r)

    coarse = np.linspace(lo + 1e-6, 1 - 1e-6, 400)
    lp = np.array([log_post(r) for r in coarse])
    inside = coarse[lp > lp.max() - 30]
    grid = np.linspace(inside[0], inside[-1], 300)
    lp = np.array([log_post(r) for r in grid])
    p = np.exp(lp - lp.max())
    p /= np.trapezoid(p, grid)
    out = {"rho": np.trapezoid(p * grid, grid)}
    betas, sig, direct, total = [], [], [], []
    for r in grid:
        e = y - r * wy
        b = np.linalg.lstsq(X, e, rcond=None)[0]
        res = e - X @ b
        betas.append(b)
        sig.append(res @ res / (n - k - 2))  # E[SSR / chi2(n - k)]
        tr = np.zeros(4)
        for w in ws:
            s = np.linalg.inv(np.eye(len(w)) - r * w)
            tr += [np.trace(s), np.trace(s @ w), s.sum(), (s @ w).sum()]
        tr /= n
        theta = [b[design.names.index(f"W_{c}_{x}")] if model_type == "sdm" else 0.0 for x in design.regressors]
        bx = [b[design.names.index(x)] for x in design.regressors]
        direct.append([bx[j] * tr[0] + theta[j] * tr[1] for j in range(len(bx))])
        total.append([bx[j] * tr[2] + theta[j] * tr[3] for j in range(len(bx))])
    for name, vals in (("beta", np.array(betas)), ("sigma2", np.array(sig)), ("direct", np.array(direct)),
                       ("total", np.array(total))):
        out[name] = np.trapezoid(p[:, None] * vals.reshape(len(grid), -1), grid, axis=0)
    return out


@pytest.mark.parametrize("model_type", ["sar", "sdm"])
def test_average_with_one_dominant_channel_is_that_channels_posterior(model_type):
    """p(a | y) ~ 1: the averaged posterior means equal channel a's own posterior means (quadrature) within
    4 Monte Carlo errors; inclusion probabilities of single channels sum to 1."""
    panel, graphs = _panel()
    spec = {**SPEC, "model_types": [model_type], "effects": "none"}
    choice = choose_channels(spec, panel, graphs)
    assert choice.table.set_index("channels").loc["a", "probability"] > 1 - 1e-6
    bma = average_channels(choice, draws=4000, seed=1)
    assert bma["omitted"].iloc[0] < 1e-6 and (bma["candidates"] == 1).all()
    inc = bma[bma["quantity"] == "inclusion"].set_index("channel")
    assert inc["estimate"].sum() == pytest.approx(1, abs=1e-12) and inc.loc["a", "estimate"] > 1 - 1e-6
    ref = _quadrature(next(c.design for c in choice.candidates if c.channels == ("a",)), model_type)
    par = bma[bma["quantity"] == "parameter"].set_index("term")
    imp = bma[bma["quantity"] == "impact"].set_index(["term", "channel", "effect"])
    design = choice.candidates[0].design
    checks = [(par.loc["rho"], ref["rho"]), (par.loc["sigma2"], ref["sigma2"][0])]
    checks += [(par.loc[nm if not nm.startswith("W_a_") else "W_" + nm[4:]], ref["beta"][j])
               for j, nm in enumerate(design.names)]
    for j, x in enumerate(design.regressors):
        checks += [(imp.loc[(x, "all", "direct")], ref["direct"][j]), (imp.loc[(x, "all", "total")], ref["total"][j]),
                   (imp.loc[(x, "a", "indirect")], ref["total"][j] - ref["direct"][j])]
        assert imp.loc[(x, "b", "indirect"), "estimate"] == 0.0
    for row, exact in checks:
        assert 0 < row["mc_error"] < 0.05 * row["std_error"]
        assert abs(row["estimate"] - exact) < 4 * row["mc_error"], (row.name, row["estimate"], exact)
    assert par.loc["gamma_a", "estimate"] == pytest.approx(1, abs=1e-12) and par.loc["gamma_b", "estimate"] == 0.0


def test_subset_draws_match_quadrature_over_gamma():
    """The a+b candidate (two-way effects, unbalanced, W by year): posterior means of gamma, rho and beta from the
    importance-sampling points against a trapezoid rule over gamma of the per-gamma posteriors."""
    panel, graphs = _panel(0.3, 0.2, seed=5, n=30, t=4)
    design = build_design({"id": "s", "weights": ["a", "b"], "outcome": "y", "regressors": ["x1", "x2"],
                           "effects": "twoway"}, panel, graphs)
    marginal, _ = subset_marginal(design, "sar", seed=2)
    draws, point = candidate_draws(Candidate("sar", ("a", "b"), design, marginal), ["a", "b"], 4000,
                                   np.random.default_rng(0))
    jac = ConvexLogJacobian(design, ["a", "b"])
    grid = np.linspace(0, 1, 101)
    lm, rho, beta = [], [], []
    for g in grid:
        mix = _mixture_design(design, ["a", "b"], np.array([g, 1 - g]), "sar")
        m = _lag_marginal(mix, "conv", "sar", convex=(jac, np.array([g, 1 - g])))
        parts = _parts(mix)
        lm.append(m.log_marginal)
        rho.append(m.rho_mean)
        beta.append(parts.b0 - m.rho_mean * parts.bl[:, 0])
    post = np.exp(np.array(lm) - max(lm))
    post /= np.trapezoid(post, grid)
    beta = np.array(beta)
    exact = {"gamma_a": np.trapezoid(post * grid, grid), "rho": np.trapezoid(post * np.array(rho), grid),
             "x1": np.trapezoid(post * beta[:, 0], grid), "x2": np.trapezoid(post * beta[:, 1], grid)}
    se = dict(zip(draws.columns, np.sqrt(_candidate_mc_var(draws.to_numpy(), point, marginal.points[1])),
                  strict=True))
    for term, value in exact.items():
        assert abs(draws[term].mean() - value) < 4 * se[term], (term, draws[term].mean(), value, se[term])
        assert se[term] < 0.2 * draws[term].std()  # 64 importance-sampling points: sd / sqrt(ESS of the points)
    assert np.allclose(draws["gamma_a"] + draws["gamma_b"], 1)
    for x in ("x1", "x2"):  # the channels' indirect impacts add up to the indirect impact, draw by draw
        assert np.allclose(draws[f"{x}|indirect|a"] + draws[f"{x}|indirect|b"], draws[f"{x}|indirect"])


def test_trace_functionals_equal_dense_inverses():
    panel, graphs = _panel(0.3, 0.2, seed=5, n=30, t=4)
    design = build_design({"id": "s", "weights": ["a", "b"], "outcome": "y", "regressors": ["x1"],
                           "effects": "twoway"}, panel, graphs)
    gamma, rho = np.array([0.7, 0.3]), np.array([-0.4, 0.2, 0.8])
    got = _factors(distinct_years(design), gamma, rho, design.n_obs)
    want = np.zeros_like(got)
    for t in range(design.n_periods):
        wk = [design.weights[c][t].toarray() for c in ("a", "b")]
        w = gamma[0] * wk[0] + gamma[1] * wk[1]
        for d, r in enumerate(rho):
            s = np.linalg.inv(np.eye(len(w)) - r * w)
            want[d] += [np.trace(s), np.trace(s @ w), s.sum(), (s @ w).sum(), (wk[0] @ s).sum(), (wk[1] @ s).sum()]
    assert np.allclose(got, want / design.n_obs, rtol=1e-9, atol=1e-12)


@pytest.fixture(scope="module")
def averaged():
    panel, graphs = _panel(0.3, 0.2, seed=5, n=30, t=4)
    choice = choose_channels({**SPEC, "effects": "twoway", "max_subset": 2}, panel, graphs)
    return choice, average_channels(choice, draws=300, seed=4)


def test_inclusion_probabilities_and_seeded_repeat(averaged):
    """With the subset a+b: PIP_a + PIP_b = 1 + p(a+b | y) per model type; a rerun with the seed is identical."""
    choice, first = averaged
    pd.testing.assert_frame_equal(first, average_channels(choice, draws=300, seed=4), check_exact=True)
    table = choice.table
    for mt in ("sar", "sdm"):
        part = table[table["model_type"] == mt].set_index("channels")["probability"]
        inc = first[(first["model_type"] == mt) & (first["quantity"] == "inclusion")].set_index("channel")["estimate"]
        assert inc.sum() == pytest.approx(1 + part["a+b"] / part.sum(), abs=1e-12)
        assert inc.between(0, 1).all()
    assert set(first["quantity"]) == {"inclusion", "parameter", "impact"}
    assert first["model_type"].unique().tolist() == ["sar", "sdm"]


def test_table_files_and_report_place_the_average_after_the_channel_choice(averaged, tmp_path):
    from interdep.io import read_table
    from interdep.outputs.report import Report, section_channel_choice
    from interdep.outputs.tables import write_channel_bma, write_channel_choice

    choice, bma = averaged
    write_channel_choice(choice.table, tmp_path)
    write_channel_bma(bma, tmp_path)
    assert {f"channel_bma.{e}" for e in ("csv", "md", "tex")} <= {p.name for p in tmp_path.iterdir()}
    back = read_table(tmp_path / "channel_bma.csv")
    assert list(back.columns) == list(bma.columns) and len(back) == len(bma)
    md = (tmp_path / "channel_bma.md").read_text()
    assert "Model-averaged SAR" in md and "Model-averaged SDM" in md and "Inclusion probability" in md
    (tmp_path / "channel_choice.png").write_bytes(b"png")
    report = Report(dataset="demo", table_names=[], figure_names=[], tables_dir=tmp_path, figures_dir=tmp_path,
                    fits=[], provenance={}, channel_choice=True)
    html = section_channel_choice(report)
    assert html.index("Posterior probabilities of the candidate channels") < html.index(
        "Estimates averaged over the candidate channels") < html.index("<figure")
    assert "Averaging weighs each candidate" in html


def test_figure_adds_inclusion_probabilities_with_subsets(averaged, tmp_path, monkeypatch):
    from interdep.outputs import figures

    choice, bma = averaged
    shown = []
    original = figures.save
    monkeypatch.setattr(figures, "save", lambda fig, path: shown.append([a.get_title() for a in fig.axes])
                        or original(fig, path))
    figures.channel_choice_plot(choice.table, tmp_path / "c.png", {}, bma)
    singles = choice.table[~choice.table["channels"].str.contains("+", regex=False)]
    figures.channel_choice_plot(singles, tmp_path / "d.png", {}, bma)
    assert shown == [["Posterior model probabilities", "Posterior inclusion probability"],
                     ["Posterior model probabilities"]]
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "c.pdf").stat().st_size > 0
