"""``sar_tobit`` / ``sar_probit`` for :func:`interdep.models.fit.fit_model`: sample, summarise, judge convergence.

The dispatcher calls :func:`identified_sample` (before building the final design) and :func:`fit_bayes`; the
result carries everything fit.json's ``mcmc`` block and ``draws.parquet`` need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from interdep.models.bayes.censored import CensoredSAR, identified_units, impacts_frame
from interdep.models.bayes.core import (
    ESS_MIN,
    RHAT_MAX,
    Chains,
    PosteriorEstimate,
    convergence,
    diagnostics,
    mcmc_settings,
    posterior_estimate,
    prior_settings,
)
from interdep.models.design import Design

__all__ = ["BAYES_ESTIMATORS", "BayesFit", "fit_bayes", "identified_sample"]

BAYES_ESTIMATORS = {"sar_tobit": "tobit", "sar_probit": "probit"}


@dataclass
class BayesFit:
    """A fitted MCMC model: the summary, the impacts, the draws and fit.json's ``mcmc`` block."""

    estimate: PosteriorEstimate
    impacts: pd.DataFrame
    chains: Chains
    mcmc: dict[str, Any]


def identified_sample(est_name: str, design: Design) -> tuple[np.ndarray, str | None]:
    """Which rows to keep so that every unit effect is identified, and the note saying what was removed.

    Only with unit effects (``unit`` / ``twoway``): a unit censored in every year (Tobit), or with the same
    outcome in every year (probit), has no finite effect under a flat prior and is removed, as in
    fixed-effects logit. Returns ``(mask over design rows, note or None)``.
    """
    kind = BAYES_ESTIMATORS[est_name]
    if design.effects not in ("unit", "twoway"):
        return np.ones(design.n_obs, dtype=bool), None
    units = design.sample["ccode"].to_numpy()
    keep = identified_units(design.y, units, kind)
    if keep.all():
        return keep, None
    dropped = np.unique(units[~keep])
    what = "censored at 0 in every year" if kind == "tobit" else "the same outcome in every year"
    listed = ", ".join(str(int(u)) for u in dropped[:40]) + (" ..." if len(dropped) > 40 else "")
    note = (f"{len(dropped)} unit(s) with {what} removed ({int((~keep).sum())} rows): their unit effect is not "
            f"identified under a flat prior; ccode {listed}")
    return keep, note


def fit_bayes(est_name: str, spec: Mapping[str, Any], design: Design) -> BayesFit:
    """Run the sampler of ``est_name`` on ``design`` with the spec's ``mcmc`` and ``priors``."""
    kind = BAYES_ESTIMATORS[est_name]
    mcmc = mcmc_settings(spec)
    prior = prior_settings(spec)
    model = CensoredSAR(design, kind, prior)
    chains = model.run(draws=mcmc["draws"], burn_in=mcmc["burn_in"], chains=mcmc["chains"], thin=mcmc["thin"],
                       seed=mcmc["seed"], impact_draws=int(spec.get("impact_draws", 1000)) or 1000)
    diag = diagnostics(chains)
    converged, reason = convergence(diag)
    if mcmc["chains"] < 2:
        converged, reason = False, "; ".join(filter(None, [reason, "R-hat needs two or more chains"]))
    estimate = posterior_estimate(chains, estimator=est_name, n_obs=design.n_obs,
                                  sigma2_term="sigma2" if kind == "tobit" else None, exclude=("sigma2",))
    estimate.converged, estimate.message = converged, reason
    ess = diag[["ess_bulk", "ess_tail"]].min(axis=1)
    block = {
        **mcmc,
        "ess_min": float(ess.min()),
        "rhat_max": float(diag["rhat"].max()),
        "geweke_max": float(diag["geweke_max"].max()),
        "rules": {"rhat_max": RHAT_MAX, "ess_min": ESS_MIN},
        "seconds": round(chains.seconds, 3),
        "latent_sets": model.latent.n_sets,
        "latent_rows": len(model.latent_rows),
        "impact_draws": int(chains.extra["values"].shape[0] * chains.extra["values"].shape[1]),
        "priors": {
            "beta": "flat", "effects": "flat (unit and/or year dummies drawn with beta)",
            "sigma2": ("fixed at 1 (probit scale normalisation)" if kind == "probit" else
                       f"inverse gamma(shape={prior['sigma2_shape']}, rate={prior['sigma2_rate']})"
                       + (" = Jeffreys 1/sigma2" if prior["sigma2_shape"] == prior["sigma2_rate"] == 0 else "")),
            "rho": (f"beta({prior['rho_a']}, {prior['rho_b']}) on the admissible interval "
                    f"({model.grid.bounds[0]:.6g}, {model.grid.bounds[1]:.6g})"),
        },
        "diagnostics": {r.term: {"rhat": float(r.rhat), "ess_bulk": float(r.ess_bulk),
                                 "ess_tail": float(r.ess_tail), "mcse": float(r.mcse),
                                 "geweke_max": float(r.geweke_max)} for r in diag.itertuples()},
    }
    if kind == "tobit":
        block["sigma2_posterior"] = {"mean": float(diag.set_index("term").loc["sigma2", "mean"]),
                                     "sd": float(diag.set_index("term").loc["sigma2", "sd"])}
    estimate.diagnostics["notes"] = [
        "posterior summaries: estimate = posterior mean, std_error = posterior sd, conf_low/conf_high = 95% "
        "equal-tailed credible interval, p_value = two-sided posterior tail probability",
        "impacts on the latent scale (scale = latent) and on the observed scale (scale = observed: "
        + ("E[y]" if kind == "tobit" else "P(y = 1)") + "), LeSage & Pace (2009) averages over the sample",
    ]
    impacts = impacts_frame(chains, model)
    impacts.attrs["draws_used"] = block["impact_draws"]
    return BayesFit(estimate=estimate, impacts=impacts, chains=chains, mcmc=block)
