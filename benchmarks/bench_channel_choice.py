"""Which channel? Speed and Monte Carlo of the log-marginal likelihoods and of ``sar_conv`` (issue 12).

Run (one at a time; CPU seconds are reported, wall time depends on the machine's load)::

    .venv/bin/python benchmarks/bench_channel_choice.py speed        # real panel: 5 channels x SAR/SDM; vs spmixw
    .venv/bin/python benchmarks/bench_channel_choice.py adjustment   # real panel: marginals with / without the
                                                                     # effects adjustment of the log-Jacobian
    .venv/bin/python benchmarks/bench_channel_choice.py conv         # real panel: sar_conv, 3 channels, 2 x 5,000
    .venv/bin/python benchmarks/bench_channel_choice.py spmixw-conv  # sar_conv vs spmixw sar_conv_panel, balanced
    .venv/bin/python benchmarks/bench_channel_choice.py mc-choice --reps 200
    .venv/bin/python benchmarks/bench_channel_choice.py mc-gamma --reps 200 --budget 1500 [--draws 2000 --burn-in 500]
    .venv/bin/python benchmarks/bench_channel_choice.py mc-gamma-log --log LOG   # summary of a stopped mc-gamma
    .venv/bin/python benchmarks/bench_channel_choice.py mc-gamma-ml --reps 200   # two-rho ML on the same data
    .venv/bin/python benchmarks/bench_channel_choice.py conv-grid --rep 0 --draws 1500  # exact grid vs MCMC

``speed``, ``adjustment`` and ``conv`` need ``results/ipi`` (panel.csv and weights/*.csv from
``snakemake --configfile config/ipi.yaml --config raw_dir=PATH``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from interdep.io import read_table
from interdep.models.bayes.conv import SAMPLERS, ConvexSAR
from interdep.models.bayes.core import convergence, diagnostics
from interdep.models.bayes.marginal import log_marginal
from interdep.models.design import build_design
from interdep.models.panel_ml import fit_sar_ml
from interdep.montecarlo import Channel, design_graphs, simulate
from interdep.montecarlo import Design as MCDesign
from interdep.panel.build import states_by_year
from interdep.weights.graphs import graphs_from_edge_list

ROOT = Path(__file__).resolve().parents[1]
REGRESSORS = ["log_gdppc", "log_pop", "polyarchy", "conflict_neighbour"]
CHANNELS = ["contiguity", "distance", "alliance", "igo", "unga"]
SDM_THETA = (0.5, -0.3)  # mc-gamma with --estimator sdm_conv: the coefficients of W(gamma) x1, W(gamma) x2


def _real(channels):
    res = ROOT / "results" / "ipi"
    panel = read_table(res / "panel.csv")
    ids = states_by_year(panel)
    graphs = {c: graphs_from_edge_list(read_table(res / "weights" / f"{c}.csv"), ids) for c in channels}
    return panel, graphs


def _cpu(fn):
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def _best(fn, repeat: int = 5):
    """The smallest CPU time of ``repeat`` calls (the comparison with spmixw times calls of ~0.02-0.1 s, where one
    call's time moves with the machine's load)."""
    return min(_cpu(fn)[0] for _ in range(repeat))


def speed() -> None:
    panel, graphs = _real(CHANNELS)
    spec = {"id": "s", "outcome": "log_contrib", "regressors": REGRESSORS, "years": [1990, 2014],
            "effects": "twoway"}
    total = 0.0
    for mt in ("sar", "sdm"):
        for c in CHANNELS:
            design = build_design({**spec, "weights": [c]}, panel, graphs, spatial_x=mt == "sdm")
            sec, m = _cpu(lambda d=design, t=mt: log_marginal(d, t))
            total += sec
            print(f"{mt} {c:11s} n={design.n_obs} log_marginal={m.log_marginal:.3f} cpu={sec:.3f}s")
    print(f"TOTAL 5 channels x 2 model types (design excluded): {total:.2f} CPU s")
    # the same balanced data for both: states observed in every year, the W of each year restricted to them
    import spmixw

    design = build_design({**spec, "weights": ["contiguity"]}, panel, graphs)
    counts = design.sample["ccode"].value_counts()
    keep = counts.index[counts == design.n_periods]
    bal = panel[panel["ccode"].isin(keep)]
    design = build_design({**spec, "weights": ["contiguity"]}, bal, graphs, spatial_x=True)
    N, T = len(keep), design.n_periods
    W = design.weights["contiguity"][-1].toarray()  # one fixed W (the last year's), as spmixw requires
    design.weights["contiguity"] = [design.weights["contiguity"][-1]] * T
    xs = design.X[:, :len(REGRESSORS)]
    design.X = np.column_stack([xs, design.lag("contiguity", xs)])
    _ = design.projector  # the within transformation, built outside the timing as spmixw's demean_panel is

    def cold(model_type: str):  # each call computes its eigenvalues afresh (nothing cached on the design)
        design.cache.clear()
        return log_marginal(design, model_type, "lesage")

    sec_sdm = _best(lambda: cold("sdm"))
    sec_sem = _best(lambda: cold("sem"))
    dm = spmixw.demean_panel(design.y, xs, N, T, 3)
    for lflag, what in ((0, "exact log-det"), (1, "default: Monte Carlo log-det")):
        sec_ref = _best(lambda f=lflag: spmixw.lmarginal_panel(dm.ywith, dm.xwith, W, N, T, lflag=f, seed=1))
        print(f"balanced {N} x {T}, fixed W, two-way, best of 5: ours SDM {sec_sdm:.3f} + SDEM (two-way dummies exact) "
              f"{sec_sem:.3f} CPU s; spmixw lmarginal_panel (SLX+SDM+SDEM on demeaned data, {what}) "
              f"{sec_ref:.3f} CPU s; ratio spmixw / ours-SDM {sec_ref / sec_sdm:.2f}x, "
              f"spmixw / ours SDM+SDEM {sec_ref / (sec_sdm + sec_sem):.2f}x")


def adjustment() -> None:
    """The real panel's log-marginals with and without the effects adjustment of the log-Jacobian."""
    panel, graphs = _real(CHANNELS)
    spec = {"id": "s", "outcome": "log_contrib", "regressors": REGRESSORS, "years": [1990, 2014],
            "effects": "twoway"}
    print("| model | channel | adjusted (error) | unadjusted | adjusted - unadjusted | rho (adjusted / unadjusted) |")
    print("|---|---|---|---|---|---|")
    for mt in ("sdm", "sar"):
        for c in CHANNELS:
            design = build_design({**spec, "weights": [c]}, panel, graphs, spatial_x=mt == "sdm")
            a, u = log_marginal(design, mt), log_marginal(design, mt, adjust=False)
            print(f"| {mt.upper()} | {c} | {a.log_marginal:.2f} ({a.error:.1g}) | {u.log_marginal:.2f} | "
                  f"{a.log_marginal - u.log_marginal:.2f} | {a.rho_mean:.3f} / {u.rho_mean:.3f} |", flush=True)


def conv(draws: int = 5000, burn_in: int = 1000, adjust: bool = True, estimator: str = "sar_conv") -> None:
    channels = ["contiguity", "alliance", "unga"]
    panel, graphs = _real(channels)
    design = build_design({"id": "c", "weights": channels, "outcome": "log_contrib", "regressors": REGRESSORS,
                           "years": [1990, 2014], "effects": "twoway"}, panel, graphs,
                          spatial_x=estimator == "sdm_conv")
    sec_init, model = _cpu(lambda: SAMPLERS[estimator](design, burn_in, adjust=adjust))
    sec, chains = _cpu(lambda: model.run(draws=draws, burn_in=burn_in, chains=2, thin=1, seed=1, impact_draws=0))
    d = diagnostics(chains)
    print(d[["term", "mean", "sd", "rhat", "ess_bulk", "ess_tail"]].to_string(index=False))
    print(f"{estimator} real panel n={design.n_obs}, 3 channels, adjust={adjust}, 2 x ({burn_in} + {draws}) sweeps: "
          f"{sec_init + sec:.1f} CPU s ({sec_init:.1f} setup incl. the trace series, {sec:.1f} sampling; "
          f"{model.exact_evaluations} exact log-determinant evaluations); adjustment error bound at the largest "
          f"|rho| drawn {model.jacobian.bound(float(np.abs(chains.pooled[:, chains.names.index('rho')]).max())):.1e}")


def spmixw_conv(draws: int = 5000, burn_in: int = 1000) -> None:
    import spmixw

    mc = MCDesign(id="bal", n=100, t=5, effects="twoway",
                  channels=(Channel("a", 0.3), Channel("b", 0.2), Channel("c", 0.0)))
    graphs = design_graphs(mc, 11)
    panel = simulate(mc, graphs, 11, 0)
    chans = ["a", "b", "c"]
    design = build_design({"id": "b", "weights": chans, "outcome": "y", "regressors": ["x1", "x2"],
                           "effects": "twoway"}, panel, graphs)
    ours = ConvexSAR(design, burn_in).run(draws=draws, burn_in=burn_in, chains=2, thin=1, seed=3, impact_draws=0)
    d = diagnostics(ours).set_index("term")
    Ws = [design.weights[c][0].toarray() for c in chans]
    ref = spmixw.sar_conv_panel(design.y, design.X, Ws, mc.n, mc.t, ndraw=2 * draws + burn_in, nomit=burn_in,
                                model=3, seed=3)
    rows = []
    for term, value, draws_ref in (("rho", ref.rho, ref.rho_draws),
                                   *[(f"gamma_{c}", ref.gamma[k], ref.gamma_draws[:, k]) for k, c in enumerate(chans)],
                                   *[(x, ref.beta[k], ref.beta_draws[:, k]) for k, x in enumerate(["x1", "x2"])]):
        b = np.asarray(draws_ref)
        m = len(b) // 25
        mcse_ref = float(np.sqrt(b[: 25 * m].reshape(25, m).mean(axis=1).var(ddof=1) / 25))
        diff = d.loc[term, "mean"] - float(value)
        rows.append((term, d.loc[term, "mean"], d.loc[term, "mcse"], float(value), mcse_ref,
                     diff / np.hypot(d.loc[term, "mcse"], mcse_ref)))
    print(pd.DataFrame(rows, columns=["term", "ours", "mcse", "spmixw", "mcse_spmixw", "z"]).to_string(index=False))


def mc_choice(reps: int, seed: int = 20260101) -> None:
    mc = MCDesign(id="choice", n=190, t=10, effects="twoway",
                  channels=(Channel("a", 0.3, varying=True), Channel("b", 0.0, varying=True),
                            Channel("c", 0.0, w="random", varying=True)))
    graphs = design_graphs(mc, seed)
    t0 = time.process_time()
    wins, margins = [], []
    for r in range(reps):
        panel = simulate(mc, graphs, seed, r)
        lm = {}
        for c in ("a", "b", "c"):
            design = build_design({"id": "m", "weights": [c], "outcome": "y", "regressors": ["x1", "x2"],
                                   "effects": "twoway"}, panel, graphs)
            lm[c] = log_marginal(design, "sar").log_marginal
        wins.append(max(lm, key=lm.get) == "a")
        margins.append(lm["a"] - max(lm["b"], lm["c"]))
    sec = time.process_time() - t0
    share = np.mean(wins)
    print(f"mc-choice: {reps} replications, true channel a (rho 0.3) among a, b (KNN) and c (random graph); "
          f"highest probability in {share:.3f} (MC s.e. {np.sqrt(share * (1 - share) / reps):.3f}); "
          f"median log Bayes factor {np.median(margins):.1f}; {sec:.0f} CPU s")


def mc_gamma(reps: int, draws: int = 2000, burn_in: int = 500, seed: int = 20260101, budget: float = 0.0,
             both: bool = False, estimator: str = "sar_conv") -> None:
    """``sar_conv`` with the effects-adjusted log-Jacobian (the default; ``both``: also without it, on the same
    data sets); stops after ``reps`` replications or once ``budget`` CPU seconds are spent (0: no budget).
    Per replication and term: error, coverage, posterior sd, R-hat and ESS; per replication: whether the
    package's convergence rule (every R-hat <= 1.01, every ESS >= 400) holds over all terms.
    ``sdm_conv``: the same process with ``W(gamma) X theta``, theta = (0.5, -0.3) (per channel gamma_c theta)."""
    sdm = estimator == "sdm_conv"
    theta = tuple(g * v for g in (0.6, 0.4) for v in SDM_THETA) if sdm else ()
    mc = MCDesign(id="gamma", n=190, t=10, effects="twoway", theta=theta,
                  channels=(Channel("a", 0.18, varying=True), Channel("b", 0.12, varying=True)))
    graphs = design_graphs(mc, seed)
    terms = (("gamma_a", 0.6), ("rho", 0.3)) + ((("W_x1", SDM_THETA[0]),) if sdm else ())
    t0 = time.process_time()
    rows = []
    done = 0
    for r in range(reps):
        panel = simulate(mc, graphs, seed, r)
        design = build_design({"id": "g", "weights": ["a", "b"], "outcome": "y", "regressors": ["x1", "x2"],
                               "effects": "twoway"}, panel, graphs, spatial_x=sdm)
        for adjust in (True, False) if both else (True,):
            chains = SAMPLERS[estimator](design, burn_in, adjust=adjust).run(draws=draws, burn_in=burn_in, chains=2,
                                                                             thin=1, seed=r, impact_draws=0)
            diag = diagnostics(chains)
            ok, _ = convergence(diag)
            d = diag.set_index("term")
            for term, truth in terms:
                lo, hi = d.loc[term, "conf_low"], d.loc[term, "conf_high"]
                label = ("adjusted" if adjust else "unadjusted") + ("-sdm" if sdm else "")
                rows.append((r, label, term, d.loc[term, "mean"] - truth,
                             lo <= truth <= hi, d.loc[term, "sd"], d.loc[term, "rhat"],
                             min(d.loc[term, "ess_bulk"], d.loc[term, "ess_tail"]), ok,
                             round(time.process_time() - t0, 1)))  # the last: CPU s so far
                print("ROW", *rows[-1], flush=True)
        done += 1
        if budget and time.process_time() - t0 > budget:
            break
    sec = time.process_time() - t0
    _gamma_summary(pd.DataFrame(rows, columns=_GAMMA_COLUMNS))
    print(f"mc-gamma ({estimator}): {done} replications, 2 x ({burn_in} + {draws}) sweeps each, "
          f"{'adjusted and unadjusted' if both else 'adjusted'}, {sec:.0f} CPU s")


def _gamma_world(seed: int = 20260101):
    """The mc-gamma design (N = 190, T = 10, W's different every year, two-way effects, rho_a = 0.18,
    rho_b = 0.12, i.e. rho = 0.3, gamma = 0.6 / 0.4) and its weights."""
    mc = MCDesign(id="gamma", n=190, t=10, effects="twoway",
                  channels=(Channel("a", 0.18, varying=True), Channel("b", 0.12, varying=True)))
    return mc, design_graphs(mc, seed)


def _gamma_design(mc, graphs, r: int, seed: int = 20260101):
    return build_design({"id": "g", "weights": ["a", "b"], "outcome": "y", "regressors": ["x1", "x2"],
                         "effects": "twoway"}, simulate(mc, graphs, seed, r), graphs)


def mc_gamma_ml(reps: int) -> None:
    """The two-rho ML (``sar_ml`` on weights [a, b], Lee-Yu default) on the mc-gamma data sets: rho_a + rho_b
    and gamma_a = rho_a / (rho_a + rho_b), with delta-method standard errors; bias, sampling sd, mean s.e. and
    95% Wald coverage over the first 38, 86 and ``reps`` replications."""
    mc, graphs = _gamma_world()
    t0 = time.process_time()
    rows = []
    for r in range(reps):
        est = fit_sar_ml(_gamma_design(mc, graphs, r))
        i = [est.terms.index("rho_a"), est.terms.index("rho_b")]
        (ra, rb), cov = est.params[i], est.cov[np.ix_(i, i)]
        grad = np.array([rb, -ra]) / (ra + rb) ** 2  # of ra / (ra + rb)
        rows.append((ra + rb, float(np.sqrt(cov.sum())), ra / (ra + rb), float(np.sqrt(grad @ cov @ grad))))
    a = np.array(rows)
    for n in sorted({min(38, reps), min(86, reps), reps}):
        for name, col, truth in (("rho_a + rho_b", 0, 0.3), ("gamma_a", 2, 0.6)):
            est, se = a[:n, col], a[:n, col + 1]
            sd = est.std(ddof=1)
            print(f"ML reps 0-{n - 1} {name}: bias {est.mean() - truth:+.4f} (MC s.e. {sd / np.sqrt(n):.4f}), "
                  f"sd {sd:.4f}, mean s.e. {se.mean():.4f}, 95% coverage "
                  f"{np.mean(np.abs(est - truth) <= 1.959964 * se):.3f}")
    print(f"mc-gamma-ml: {reps} replications, {time.process_time() - t0:.0f} CPU s")


def conv_grid(r: int, draws: int = 1500, burn_in: int = 500) -> None:
    """Replication ``r`` of mc-gamma: the exact posterior of (rho, gamma_a) on a 91 x 86 grid (the sampler's
    exact log target; uniform priors) against the MCMC draws; and the same grid under a flat prior on
    (rho_a, rho_b) instead (density |rho| in (rho, gamma)), the size of the prior effect."""
    mc, graphs = _gamma_world()
    model = ConvexSAR(_gamma_design(mc, graphs, r), burn_in)
    rg, gg = np.linspace(0.12, 0.48, 91), np.linspace(0.15, 0.995, 86)
    sec_grid, lp = _cpu(lambda: np.array([[model.log_target(x, np.array([g, 1 - g])) for g in gg] for x in rg]))
    rho, gam = np.meshgrid(rg, gg, indexing="ij")

    def moments(w, x):
        w = w / w.sum()
        m = float((w * x).sum())
        return m, float(np.sqrt((w * (x - m) ** 2).sum()))

    p = np.exp(lp - lp.max())
    for prior, w in (("uniform on (rho, gamma)", p), ("flat on (rho_a, rho_b)", p * np.abs(rho))):
        (rm, rs), (gm, gs) = moments(w, rho), moments(w, gam)
        print(f"rep {r} grid, prior {prior}: rho {rm:.4f} (sd {rs:.4f}), gamma_a {gm:.4f} (sd {gs:.4f})")
    print(f"  grid mass on its edges: rho {p[[0, -1], :].sum() / p.sum():.1e}, "
          f"gamma {p[:, [0, -1]].sum() / p.sum():.1e}; {sec_grid:.1f} CPU s")
    sec, chains = _cpu(lambda: model.run(draws=draws, burn_in=burn_in, chains=2, thin=1, seed=r, impact_draws=0))
    d = diagnostics(chains).set_index("term").loc[["rho", "gamma_a"], ["mean", "sd", "mcse", "rhat", "ess_bulk",
                                                                       "ess_tail"]]
    print(d.to_string())
    print(f"  MCMC 2 x ({burn_in} + {draws}): {sec:.1f} CPU s")


_GAMMA_COLUMNS = ["rep", "jacobian", "term", "error", "covered", "post_sd", "rhat", "ess", "converged", "cpu"]


def _gamma_summary(out: pd.DataFrame) -> None:
    done = out["rep"].nunique()
    summary = out.groupby(["jacobian", "term"]).agg(
        bias=("error", "mean"), sd=("error", "std"), rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))),
        post_sd=("post_sd", "mean"), coverage=("covered", "mean"), rhat_max=("rhat", "max"),
        ess_min=("ess", "min"), ess_median=("ess", "median"),
        ess_below_400=("ess", lambda e: int((e < 400).sum())),
        not_converged=("converged", lambda c: int((~c.astype(bool)).sum())))
    summary["bias_mcse"] = summary["sd"] / np.sqrt(done)
    summary["coverage_mcse"] = np.sqrt(summary["coverage"] * (1 - summary["coverage"]) / done)
    with pd.option_context("display.width", 250):
        print(summary.to_string())


def mc_gamma_log(path: str) -> None:
    """The summary of a (possibly stopped) ``mc-gamma`` run from its ``ROW`` lines (complete replications)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("ROW "):
            f = line.split()[1:]
            rows.append((int(f[0]), f[1], f[2], float(f[3]), f[4] == "True", float(f[5]), float(f[6]), float(f[7]),
                         f[8] == "True", float(f[9])))
    out = pd.DataFrame(rows, columns=_GAMMA_COLUMNS)
    complete = out.groupby(["rep", "jacobian"])["term"].transform("size") == np.where(
        out["jacobian"].str.endswith("-sdm"), 3, 2)
    out = out[complete]
    _gamma_summary(out)
    print(f"mc-gamma (from {path}): {out['rep'].nunique()} complete replications, {out['cpu'].max():.0f} CPU s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["speed", "adjustment", "conv", "conv-unadjusted", "spmixw-conv",
                                         "mc-choice", "mc-gamma", "mc-gamma-log", "mc-gamma-ml", "conv-grid"])
    parser.add_argument("--log", help="mc-gamma-log: the output of a (possibly stopped) mc-gamma run")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--rep", type=int, default=0, help="conv-grid: the mc-gamma replication")
    parser.add_argument("--draws", type=int, default=2000, help="mc-gamma: draws per chain")
    parser.add_argument("--burn-in", type=int, default=500, help="mc-gamma: burn-in sweeps per chain")
    parser.add_argument("--budget", type=float, default=0.0, help="mc-gamma: stop after this many CPU seconds")
    parser.add_argument("--both", action="store_true", help="mc-gamma: also without the effects adjustment")
    parser.add_argument("--estimator", choices=sorted(SAMPLERS), default="sar_conv", help="conv, mc-gamma")
    args = parser.parse_args()
    from interdep.models.panel_ml import single_thread_blas

    with single_thread_blas():
        {"speed": speed, "adjustment": adjustment, "conv": lambda: conv(estimator=args.estimator),
         "conv-unadjusted": lambda: conv(adjust=False, estimator=args.estimator),
         "spmixw-conv": spmixw_conv,
         "mc-choice": lambda: mc_choice(args.reps),
         "mc-gamma": lambda: mc_gamma(args.reps, args.draws, args.burn_in, budget=args.budget,
                                                        both=args.both, estimator=args.estimator),
         "mc-gamma-log": lambda: mc_gamma_log(args.log), "mc-gamma-ml": lambda: mc_gamma_ml(args.reps),
         "conv-grid": lambda: conv_grid(args.rep, args.draws, args.burn_in)}[args.what]()


if __name__ == "__main__":
    main()
