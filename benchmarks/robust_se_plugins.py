"""Residual plug-ins for the robust (QML sandwich) s.e. of the panel SAR ML, compared on the same fits (issue 16).

For each replication of a design of config/montecarlo_robust_se.yaml (the package simulator, the same replications
as ``benchmarks/montecarlo.py``): one ``sar_ml`` fit with ``se: robust``, and the sandwich recomputed with other
plug-ins for the error variances on the same residuals: ``hc2`` (the package's, ``r_i^2 / (1 - h_ii)``; checked to
equal the fit's s.e.), ``hc3`` (``r_i^2 / (1 - h_ii)^2`` everywhere), ``hc3lin`` (HC3 in the linear part of the
score's variance, HC2 in the quadratic part), ``hrklin`` (linear part with Hartley, Rao & Kiefer's 1969 unbiased
variances ``(M o M)^-1 (r o r)``, ``M`` the residual maker of the fixed effects, ``QX`` and ``QG mu``), and the
classical inverse information. Prints mean s.e. / sd and coverage of the 95% Wald intervals per plug-in.

Run: ``nice .venv/bin/python benchmarks/robust_se_plugins.py DESIGN_ID REPLICATIONS``.
"""
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from interdep.models import panel_ml as pm
from interdep.models.design import build_design
from interdep.models.panel_ml import _leverage, linear_quadratic_covariance, score_forms
from interdep.montecarlo import design_graphs, model_spec, parse_study, simulate, true_value

cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "montecarlo_robust_se.yaml").read_text())
designs, estimators = parse_study(cfg["montecarlo"])
design = next(d for d in designs if d.id == sys.argv[1])
reps = int(sys.argv[2])
seed = int(cfg["seed"])
graphs = design_graphs(design, seed)
store = {}
orig = pm.robust_covariance

def variants(design_, parts, rho, mu, resid, sigma2, info):
    n = design_.n_obs
    a, B = score_forms(design_, parts.Xt, rho, mu, sigma2)
    keep = 1 - _leverage(design_, np.column_stack([parts.Xt, a[:, parts.Xt.shape[1]:-1]]))
    hinv = np.linalg.inv(info)
    out = {}
    Z = np.column_stack([parts.Xt, a[:, parts.Xt.shape[1]:-1]])
    M = design_.projector(np.eye(n)) - Z @ np.linalg.solve(Z.T @ Z, Z.T)
    s2_hrk = np.linalg.solve(M * M, resid**2)  # unbiased for every sigma_i^2 (Hartley, Rao & Kiefer 1969)
    store["neg"] = store.get("neg", 0) + int((s2_hrk < 0).sum())
    for name, s2 in (("hc2", resid**2 / keep), ("hc3", resid**2 / keep**2),
                     ("hc3lin", None), ("hrklin", None)):
        if name in ("hc3lin", "hrklin"):  # HC3 / HRK in the linear part only, HC2 in the quadratic part
            s2l, s2q = (resid**2 / keep**2 if name == "hc3lin" else s2_hrk), resid**2 / keep
            kappa = n * np.sum(s2q**2) / np.sum(s2q) ** 2
            V = linear_quadratic_covariance(a, B, s2q, np.sign(resid) * s2q**1.5, (2 - 1 / kappa) * s2q**2)
            V += (a * (s2l - s2q)[:, None]).T @ a
        else:
            kappa = n * np.sum(s2**2) / np.sum(s2) ** 2
            V = linear_quadratic_covariance(a, B, s2, np.sign(resid) * s2**1.5, (2 - 1 / kappa) * s2**2)
        out[name] = hinv @ V @ hinv
    out["classical"] = hinv
    store["covs"] = out
    return orig(design_, parts, rho, mu, resid, sigma2, info)

pm.robust_covariance = variants
rows = []
t0 = time.process_time()
for r in range(reps):
    panel = simulate(design, graphs, seed, r)
    spec = model_spec(design, "robust", estimators["robust"])
    d = build_design(spec, panel, graphs)
    est = pm.fit_sar_ml(d, se="robust", lee_yu=True)
    k = len(d.names)
    terms = list(d.names) + [f"rho_{c}" for c in d.channels]
    for name, cov in store["covs"].items():
        se = np.sqrt(np.diag(cov))[:len(terms)]
        for i, t in enumerate(terms):
            rows.append({"rep": r, "variant": name, "term": t, "est": est.params[i], "se": se[i],
                         "truth": true_value(design, t)})
    # check: hc2 equals the package's robust s.e.
    assert np.allclose(np.sqrt(np.diag(store["covs"]["hc2"]))[:len(terms)], est.std_errors, rtol=1e-10)
df = pd.DataFrame(rows)
print(design.id, reps, "reps", f"{time.process_time() - t0:.0f} CPU s", "negative hrk variances", store["neg"])
for (v, t), g in df.groupby(["variant", "term"], sort=False):
    sd = g["est"].std(ddof=1)
    cov = np.mean(np.abs(g["est"] - g["truth"]) <= 1.959964 * g["se"])
    print(f"{design.id} | {v} | {t} | s.e./sd {g['se'].mean() / sd:.3f} | coverage {cov:.3f}")
