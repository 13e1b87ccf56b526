"""Time the cross-section wrappers against spreg (called directly) and R spatialreg on the same data.

Usage::

    .venv/bin/python benchmarks/bench_cross_section.py [--units 190] [--periods 1 10] [--reps 3]

For each size (units x periods rows, W block-diagonal over periods, fixed per-period distance-band graph with
two islands, row-standardised) it fits SAR ML, SDM ML, SEM ML, SAC ML, S2SLS and SLX with our wrappers, with
spreg's own classes (``ML_Lag``/``ML_Error`` method LU, ``GM_Lag``, ``OLS(slx_lags=1)``; spreg has no ML SAC)
and, when ``Rscript`` with spatialreg is installed, with R (``method="eigen"`` up to 1000 rows, ``"LU"``
beyond; timed inside R, so R's start-up is excluded). Where ``interdep.models.panel_ml`` exists, our own ML
engine is timed on SAR and SDM as well. Prints median seconds and the ratios ours / R and ours / spreg.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import libpysal
import numpy as np
import pandas as pd
import scipy.sparse as sp
import spreg

from interdep.models.cross_section import (
    fit_sac_ml,
    fit_sar_gmm,
    fit_sar_ml_spreg,
    fit_sem_ml,
    fit_slx,
)

NAMES = ["const", "x1", "x2"]
MODELS = ["sar_ml", "sdm_ml", "sem_ml", "sac_ml", "sar_gmm", "slx"]

R_BENCH = r"""
suppressPackageStartupMessages({library(spdep); library(spatialreg)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(file.path(args[1], "data.csv")); reps <- as.integer(args[2])
nb <- read.gal(file.path(args[1], "w.gal"), region.id = as.character(seq_len(nrow(d))))
lw <- nb2listw(nb, style = "W", zero.policy = TRUE)
meth <- if (nrow(d) <= 1000) "eigen" else "LU"
f <- y ~ x1 + x2
fits <- list(
  sar_ml = function() lagsarlm(f, d, lw, method = meth, zero.policy = TRUE),
  sdm_ml = function() lagsarlm(f, d, lw, method = meth, Durbin = TRUE, zero.policy = TRUE),
  sem_ml = function() errorsarlm(f, d, lw, method = meth, zero.policy = TRUE),
  sac_ml = function() sacsarlm(f, d, lw, method = meth, zero.policy = TRUE),
  sar_gmm = function() stsls(f, d, lw, zero.policy = TRUE, robust = TRUE, HC = "HC0"),
  slx = function() lmSLX(f, d, lw, zero.policy = TRUE))
sec <- sapply(fits, function(g) median(replicate(reps, system.time(g())[["elapsed"]])))
write.csv(data.frame(model = names(sec), seconds = sec), file.path(args[1], "r_times.csv"), row.names = FALSE)
"""


def simulate(units: int, periods: int, seed: int = 1) -> tuple[pd.DataFrame, list[list[int]], sp.csr_matrix]:
    """Stacked SAR data; the same distance-band graph (two islands) in every period."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(size=(units, 2))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    A = (d < np.sqrt(6 / (np.pi * units))) & (d > 0)  # about 6 neighbours on average
    A[:2] = False
    A[:, :2] = False
    rs = A.sum(1)
    Wt = sp.csr_matrix(A / np.where(rs > 0, rs, 1)[:, None])
    W = sp.block_diag([Wt] * periods, format="csr")
    nbrs = [list(np.flatnonzero(A[i]) + t * units) for t in range(periods) for i in range(units)]
    n = units * periods
    X = rng.normal(size=(n, 2))
    y = sp.linalg.spsolve(sp.csc_matrix(sp.identity(n) - 0.4 * W), 1 + X @ [1.0, -1.0] + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x1": X[:, 0], "x2": X[:, 1]}), nbrs, W


def _median_seconds(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def time_ours(data: pd.DataFrame, W: sp.csr_matrix, reps: int) -> dict[str, float]:
    y, X = data["y"].to_numpy(), np.column_stack([np.ones(len(data)), data["x1"], data["x2"]])
    calls = {
        "sar_ml": lambda: fit_sar_ml_spreg(y, X, NAMES, W, "d"),
        "sdm_ml": lambda: fit_sar_ml_spreg(y, X, NAMES, W, "d", durbin=True),
        "sem_ml": lambda: fit_sem_ml(y, X, NAMES, W, "d"),
        "sac_ml": lambda: fit_sac_ml(y, X, NAMES, W, "d"),
        "sar_gmm": lambda: fit_sar_gmm(y, X, NAMES, W, "d", w_lags=2),
        "slx": lambda: fit_slx(y, X, NAMES, W, "d"),
    }
    return {m: _median_seconds(calls[m], reps) for m in MODELS}


def time_spreg(data: pd.DataFrame, W: sp.csr_matrix, reps: int) -> dict[str, float]:
    y, X = data[["y"]].to_numpy(), data[["x1", "x2"]].to_numpy()
    w = libpysal.weights.WSP(W).to_W(silence_warnings=True)
    calls = {
        "sar_ml": lambda: spreg.ML_Lag(y, X, w, method="LU"),
        "sdm_ml": lambda: spreg.ML_Lag(y, X, w, method="LU", slx_lags=1),
        "sem_ml": lambda: spreg.ML_Error(y, X, w, method="LU"),
        "sar_gmm": lambda: spreg.GM_Lag(y, X, w=w, w_lags=2, robust="white"),
        "slx": lambda: spreg.OLS(y, X, w=w, slx_lags=1),
    }
    return {m: _median_seconds(calls[m], reps) if m in calls else np.nan for m in MODELS}


def time_panel_ml(data: pd.DataFrame, W: sp.csr_matrix, units: int, periods: int, reps: int) -> dict[str, float]:
    try:
        from interdep.models import panel_ml
        from interdep.models.design import Design
    except ImportError:
        return dict.fromkeys(MODELS, np.nan)
    y, X = data["y"].to_numpy(), np.column_stack([np.ones(len(data)), data["x1"], data["x2"]])
    Wt = sp.csr_array(W[:units, :units])
    out = dict.fromkeys(MODELS, np.nan)
    for model, durbin in (("sar_ml", False), ("sdm_ml", True)):
        Xd, names = X, list(NAMES)
        if durbin:
            Xd, names = np.hstack([X, W @ X[:, 1:]]), names + ["W_d_x1", "W_d_x2"]
        design = Design(
            model_id=model, y=y, X=Xd, names=names, regressors=["x1", "x2"], channels=["d"],
            years=np.arange(periods), blocks=[slice(t * units, (t + 1) * units) for t in range(periods)],
            weights={"d": [Wt] * periods},
            sample=pd.DataFrame({"ccode": np.tile(np.arange(units), periods),
                                 "year": np.repeat(np.arange(periods), units)}),
        )
        out[model] = _median_seconds(lambda d=design, m=model: panel_ml.fit_sar_ml(d, estimator=m), reps)
    return out


def time_r(data: pd.DataFrame, nbrs: list[list[int]], reps: int) -> dict[str, float]:
    if shutil.which("Rscript") is None:
        return dict.fromkeys(MODELS, np.nan)
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        data.to_csv(tmpd / "data.csv", index=False, float_format="%.17g")
        lines = [str(len(nbrs))]
        for i, nb in enumerate(nbrs, start=1):
            lines += [f"{i} {len(nb)}", " ".join(str(j + 1) for j in nb)]
        (tmpd / "w.gal").write_text("\n".join(lines) + "\n")
        (tmpd / "bench.R").write_text(R_BENCH)
        run = subprocess.run(["Rscript", str(tmpd / "bench.R"), str(tmpd), str(reps)], capture_output=True,
                             text=True)
        if run.returncode != 0:
            print("R failed:", run.stderr[-500:])
            return dict.fromkeys(MODELS, np.nan)
        r = pd.read_csv(tmpd / "r_times.csv").set_index("model")["seconds"]
    return {m: float(r.get(m, np.nan)) for m in MODELS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=190)
    ap.add_argument("--periods", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    for periods in args.periods:
        data, nbrs, W = simulate(args.units, periods)
        ours = time_ours(data, W, args.reps)
        table = pd.DataFrame({
            "ours": ours,
            "spreg": time_spreg(data, W, args.reps),
            "R": time_r(data, nbrs, args.reps),
            "panel_ml": time_panel_ml(data, W, args.units, periods, args.reps),
        })
        table["ours/R"] = table["ours"] / table["R"]
        table["ours/spreg"] = table["ours"] / table["spreg"]
        table["panel_ml/R"] = table["panel_ml"] / table["R"]
        print(f"\nn = {args.units} units x {periods} periods = {len(data)} rows; median seconds of {args.reps}")
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
