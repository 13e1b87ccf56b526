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
    Chains,
    PosteriorEstimate,
    mcmc_settings,
    prior_settings,
    summarise_chains,
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


def identified_sample(est_name: str, design: Design, unit_effects: str = "fixed") -> tuple[np.ndarray, str | None]:
    """Which rows to keep so that every unit and year effect is identified, and the note saying what was removed.

    With unit effects (``unit`` / ``twoway``) a unit censored in every year (Tobit), or with the same outcome in
    every year (probit), has no finite effect under a flat prior and is removed, as in fixed-effects logit (not with
    ``unit_effects: correlated_random``, whose unit effects have a proper prior); with year effects (``time`` /
    ``twoway``) the same holds for a year. Returns ``(mask over design rows, note or
    None)``.
    """
    kind = BAYES_ESTIMATORS[est_name]
    keep = np.ones(design.n_obs, dtype=bool)
    gaps = " or missing" if np.isnan(design.y).any() else ""  # missing: impute
    what = f"censored at 0{gaps} in every" if kind == "tobit" else f"the same outcome{gaps} in every"
    notes = []
    for label, column, effects in (("unit", "ccode", ("unit", "twoway")), ("year", "year", ("time", "twoway"))):
        if design.effects not in effects or (label == "unit" and unit_effects == "correlated_random"):
            continue
        groups = design.sample[column].to_numpy()
        ok = identified_units(design.y, groups, kind)
        if ok.all():
            continue
        dropped = np.unique(groups[~ok])
        listed = ", ".join(str(int(u)) for u in dropped[:40]) + (" ..." if len(dropped) > 40 else "")
        notes.append(f"{len(dropped)} {label}(s) with {what} {'year' if label == 'unit' else 'state'} removed "
                     f"({int((~ok & keep).sum())} rows): their {label} effect is not identified under a flat prior; "
                     f"{column} {listed}")
        keep &= ok
    return keep, "; ".join(notes) or None


def fit_bayes(est_name: str, spec: Mapping[str, Any], design: Design) -> BayesFit:
    """Run the sampler of ``est_name`` on ``design`` with the spec's ``mcmc`` and ``priors``."""
    kind = BAYES_ESTIMATORS[est_name]
    mcmc = mcmc_settings(spec)
    prior = prior_settings(spec)
    unit_effects = str(spec.get("unit_effects", "fixed"))
    model = CensoredSAR(design, kind, prior, unit_effects)
    chains = model.run(draws=mcmc["draws"], burn_in=mcmc["burn_in"], chains=mcmc["chains"], thin=mcmc["thin"],
                       seed=mcmc["seed"], impact_draws=int(spec.get("impact_draws", 1000)) or 1000)
    estimate, diag, block = summarise_chains(chains, mcmc, estimator=est_name, n_obs=design.n_obs,
                                             sigma2_term="sigma2" if kind == "tobit" else None)
    block.update({
        "latent_sets": model.latent.n_sets,
        "latent_rows": len(model.latent_rows),
        "imputed_rows": model.n_imputed,
        "priors": {
            "beta": "flat",
            "effects": ("unit effects correlated random (Mundlak): unit means of the regressors (terms mean_<x>, "
                        "flat) + u_i ~ N(0, sigma2_unit), uniform prior on sigma_unit; year dummies flat"
                        if model.cre else "flat (unit and/or year dummies drawn with beta)"),
            "sigma2": ("fixed at 1 (probit scale normalisation)" if kind == "probit" else
                       f"inverse gamma(shape={prior['sigma2_shape']}, rate={prior['sigma2_rate']})"
                       + (" = Jeffreys 1/sigma2" if prior["sigma2_shape"] == prior["sigma2_rate"] == 0 else "")),
            "rho": (f"beta({prior['rho_a']}, {prior['rho_b']}) on the admissible interval "
                    f"({model.grid.bounds[0]:.6g}, {model.grid.bounds[1]:.6g})"),
        },
        "rho_jacobian": model.grid.note,
    })
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
