"""One entry point for every model of the configuration: ``fit_model(spec, panel, graphs)``.

It builds the design (:mod:`interdep.models.design`), dispatches on ``spec["estimator"]`` and returns the
:class:`FitResult` whose parts become ``coefficients.csv`` (``estimate.coefficients()``), ``fit.json`` (``fit``)
and ``impacts.csv`` (``impacts``).

Estimators (``ESTIMATORS``):

============  ===============================================================================================
``ols``       pooled OLS (with fixed effects by the within projection); LM tests / Moran's I for the first
              channel when weights are given
``slx``       OLS on ``[X, W_c X]`` for every channel (``W_<channel>_<x>``); impacts direct = beta,
              indirect = theta
``sar_ml``    spatial lag, ML, one ``rho`` per channel, time-varying ``W``, unbalanced panels, all effects
              (``effects: random`` / ``random_time``: random unit effects, one channel,
              :mod:`interdep.models.panel_random`, with a spatial Hausman test against the fixed-effects fit)
``sdm_ml``    spatial Durbin: ``sar_ml`` with ``W_<channel>_<x>``
``sem_ml``    spatial error, ML (spreg, ``effects: none``, one channel)
``sar_gmm``   spatial lag, S2SLS (spreg, ``effects: none``, one channel)
``sac``       spatial lag + error, GS2SLS (spreg ``GM_Combo_Het``, ``effects: none``, one channel)
``sac_ml``    spatial lag + error, ML (``effects: none``, one channel)
``sar_tobit`` Bayesian spatial-lag Tobit (censored at 0), MCMC, one channel, all effects
              (:mod:`interdep.models.bayes`; ``mcmc``, ``priors``; posterior draws in ``FitResult.draws``)
``sar_probit`` Bayesian spatial-lag probit (0/1 outcome), MCMC, one channel, all effects
``sar_conv``  Bayesian SAR with W = sum_k gamma_k W_k (convex combination of two or more channels), MCMC, all
              effects (:mod:`interdep.models.bayes.conv`; ``mcmc``)
``sdm_conv``  the same with W(gamma) also in the regressors' lags W x (spatial Durbin; ``wx_regressors``)
============  ===============================================================================================
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from interdep.errors import EstimationError, InputError
from interdep.models import cross_section as cs
from interdep.models.bayes.censored import UNIT_EFFECTS
from interdep.models.bayes.conv import fit_convex
from interdep.models.bayes.fit import BAYES_ESTIMATORS, fit_bayes, identified_sample
from interdep.models.design import EFFECTS, Design, build_design
from interdep.models.diagnostics import OLSParts, bsk_conditional_tests, bsk_tests, transformed_lm_tests
from interdep.models.impacts import linear_impacts, spatial_impacts
from interdep.models.panel_ml import (
    CLUSTER_REFUSAL,
    SE_TYPES,
    _spectra,
    at_bound,
    channel_bounds,
    fit_sar_ml,
    profile_log_likelihood,
    single_thread_blas,
)
from interdep.models.panel_random import RANDOM_EFFECTS, fit_sar_re, fixed_counterpart, hausman, profile_re
from interdep.models.result import Estimate

__all__ = ["ESTIMATORS", "SPEC_KEYS", "FitResult", "fit_model", "spec_schema"]

CONVEX_ESTIMATORS = ("sar_conv", "sdm_conv")  # W = sum_k gamma_k W_k, MCMC (interdep.models.bayes.conv)
ESTIMATORS = ("ols", "slx", "sar_ml", "sdm_ml", "sem_ml", "sar_gmm", "sac", "sac_ml", "sar_tobit", "sar_probit",
              *CONVEX_ESTIMATORS)
SPEC_KEYS = (
    "id", "estimator", "weights", "outcome", "regressors", "years", "effects",
    "dynamic", "wx_regressors", "lee_yu", "impact_draws", "w_lags", "description", "label", "complete_cases",
    "mcmc", "priors", "w_missing", "unit_effects", "se", "missing",
)
MISSING_OUTCOMES = ("listwise", "impute")  # the ``missing`` key: rows with a missing outcome dropped or imputed
log = logging.getLogger(__name__)
_CROSS_SECTION = {"sem_ml": cs.fit_sem_ml, "sar_gmm": cs.fit_sar_gmm, "sac": cs.fit_sac_gmm,
                  "sac_ml": cs.fit_sac_ml}


@dataclass
class FitResult:
    """A fitted model and everything written for it.

    Attributes
    ----------
    estimate : Estimate
        Coefficients, covariance, likelihood (``estimate.coefficients()`` is coefficients.csv).
    fit : dict
        The content of fit.json (JSON-ready: floats, ints, strings, lists, dicts, ``None``).
    impacts : pandas.DataFrame
        ``IMPACT_COLUMNS`` (impacts.csv).
    sample : pandas.DataFrame
        ``ccode, year`` of the rows used, in estimation order.
    profile : pandas.DataFrame
        ``channel, rho, log_likelihood`` along each rho (sar_ml / sdm_ml; empty for other estimators).
    """

    estimate: Estimate
    fit: dict[str, Any]
    impacts: pd.DataFrame
    sample: pd.DataFrame
    profile: pd.DataFrame
    draws: pd.DataFrame | None = None  # MCMC estimators: chain, draw, one column per parameter


def spec_schema() -> dict[str, Any]:
    """JSON-schema fragment for one entry of ``models:`` in the configuration."""
    names = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "estimator", "outcome", "regressors"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
            "estimator": {"enum": list(ESTIMATORS)},
            "weights": {**names, "default": []},
            "outcome": {"type": "string"},
            "regressors": {**names, "minItems": 1},
            "years": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2},
            "effects": {"enum": [*EFFECTS, *RANDOM_EFFECTS], "default": "none"},
            "dynamic": {"type": "boolean", "default": False},
            "wx_regressors": names,
            "lee_yu": {"type": "boolean", "default": True},
            "impact_draws": {"type": "integer", "minimum": 0, "default": 1000},
            "w_lags": {"enum": [1, 2], "default": 1},
            "description": {"type": "string"},
            "complete_cases": {**names, "description": "further columns a row must have (one sample for nested "
                                                       "models)"},
            "label": {"type": "string"},
            "mcmc": {"type": "object", "additionalProperties": False,
                     "properties": {k: {"type": "integer", "minimum": 0 if k in ("burn_in", "seed") else 1}
                                    for k in ("draws", "burn_in", "chains", "thin", "seed")}},
            "priors": {"type": "object", "additionalProperties": False,
                       "properties": {k: {"type": "number", "minimum": 0}
                                      for k in ("sigma2_shape", "sigma2_rate", "rho_a", "rho_b")}},
            "w_missing": {"enum": ["restandardise", "keep"], "default": "restandardise"},
            "se": {"enum": [*SE_TYPES, "cluster"], "default": "classical",
                   "description": "sar_ml / sdm_ml: classical or heteroskedasticity-robust (QML sandwich) standard "
                                  "errors; cluster is refused with the reason"},
            "unit_effects": {"enum": list(UNIT_EFFECTS), "default": "fixed",
                             "description": "sar_tobit / sar_probit: flat-prior unit dummies (fixed) or Mundlak "
                                            "correlated random unit effects"},
            "missing": {"enum": list(MISSING_OUTCOMES), "default": "listwise",
                        "description": "rows with a missing outcome: dropped, or kept with the outcome imputed in "
                                       "every sweep (sar_tobit / sar_probit)"},
        },
    }


def _check_spec(spec: Mapping[str, Any]) -> str:
    mid = spec.get("id", "<unnamed>")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise InputError(f"model {mid!r}: unknown specification key(s) {', '.join(unknown)}", value=unknown)
    est = spec.get("estimator")
    if est not in ESTIMATORS:
        raise InputError(f"model {mid!r}: unknown estimator {est!r}; expected one of {', '.join(ESTIMATORS)}",
                         value=est)
    for key in ("outcome", "regressors"):
        if not spec.get(key):
            raise InputError(f"model {mid!r}: {key!r} is required")
    needs_w = est not in ("ols",)
    if needs_w and not spec.get("weights"):
        raise InputError(f"model {mid!r}: estimator {est!r} needs at least one weights channel")
    if est in BAYES_ESTIMATORS and len(spec.get("weights", [])) != 1:
        raise InputError(f"model {mid!r}: estimator {est!r} takes exactly one weights channel",
                         value=spec.get("weights"))
    if est in CONVEX_ESTIMATORS and len(spec.get("weights", [])) < 2:
        raise InputError(f"model {mid!r}: estimator {est!r} needs two or more weights channels",
                         value=spec.get("weights"))
    if spec.get("missing", "listwise") not in MISSING_OUTCOMES:
        raise InputError(f"model {mid!r}: unknown missing {spec.get('missing')!r}; expected listwise or impute",
                         value=spec.get("missing"))
    if spec.get("missing") == "impute" and est not in BAYES_ESTIMATORS:
        raise InputError(f"model {mid!r}: 'missing: impute' applies to sar_tobit / sar_probit only", value=est)
    if est not in (*BAYES_ESTIMATORS, *CONVEX_ESTIMATORS) and (spec.get("mcmc") or spec.get("priors")):
        raise InputError(f"model {mid!r}: 'mcmc' and 'priors' apply to the MCMC estimators only "
                         f"({', '.join((*BAYES_ESTIMATORS, *CONVEX_ESTIMATORS))})", value=est)
    if spec.get("unit_effects", "fixed") != "fixed" and est not in BAYES_ESTIMATORS:
        raise InputError(f"model {mid!r}: 'unit_effects' applies to sar_tobit / sar_probit only", value=est)
    se = spec.get("se", "classical")
    if se == "cluster":
        raise InputError(f"model {mid!r}: {CLUSTER_REFUSAL}", value=se)
    if se not in SE_TYPES:
        raise InputError(f"model {mid!r}: unknown se {se!r}; expected one of {', '.join(SE_TYPES)}", value=se)
    if se != "classical" and est not in ("sar_ml", "sdm_ml"):
        raise InputError(f"model {mid!r}: se: {se} is available for sar_ml / sdm_ml only (estimator {est!r})",
                         value=se)
    if spec.get("effects") in RANDOM_EFFECTS:
        if est not in ("sar_ml", "sdm_ml"):
            raise InputError(f"model {mid!r}: effects {spec['effects']!r} (random unit effects) is available for "
                             f"sar_ml and sdm_ml only, not {est!r}", value=spec["effects"])
        if len(spec.get("weights", [])) != 1:
            raise InputError(f"model {mid!r}: random effects take exactly one weights channel",
                             value=spec.get("weights"))
        if spec.get("dynamic"):
            raise InputError(f"model {mid!r}: random effects with a lagged outcome (dynamic: true) are not "
                             "supported (the lagged outcome is correlated with the random effect)",
                             value=spec["effects"])
    if est in _CROSS_SECTION:
        if len(spec.get("weights", [])) != 1 and est != "sar_gmm":
            raise InputError(f"model {mid!r}: estimator {est!r} takes exactly one weights channel",
                             value=spec.get("weights"))
        if spec.get("effects", "none") != "none":
            raise InputError(f"model {mid!r}: estimator {est!r} supports only effects: none "
                             "(use sar_ml / sdm_ml for fixed effects)", value=spec.get("effects"))
    return est


def _fit_ols_like(design: Design, slx: bool) -> Estimate:
    """OLS / SLX on the within-projected design, degrees of freedom corrected for the effects."""
    Q = design.projector
    y, X = Q(design.y), Q(design.X)
    ch = design.channels[0] if design.channels else None
    W = design.stacked(ch) if ch else None
    est = cs.fit_ols(y, X, design.names, W, ch)
    p = Q.n_effects
    if p:
        n, k = X.shape
        df = n - k - p
        if df <= 0:
            raise InputError(f"model {design.model_id!r}: no residual degrees of freedom with the fixed effects")
        est.cov = est.cov * (n - k) / df
        est.sigma2 = est.sigma2 * (n - k) / df
        est.df_resid = df
        est.diagnostics["note"] = "spatial diagnostics computed on the within-projected data"
    if W is not None:
        est.diagnostics.update(_panel_lm_tests(design, y, X, W))
    est.estimator = "slx" if slx else "ols"
    return est


PANEL_LM_NOTES = {
    "untransformed": "lm_* on the within-projected data with s2 = e'e/n and traces of the untransformed W "
                     "(Elhorst 2010; equal to splm's slmtest)",
    "within_transformed": "s2 = e'e/(n - number of effects) and traces of the projected W, tr(QWQW + QW'QW): the "
                          "LM tests of Lee & Yu's (2010) transformed likelihood when the panel is balanced with one "
                          "row-standardised W (Debarsy & Ertur 2010 for unit effects), the exact projection otherwise",
    "bsk": "Baltagi, Song & Koh (2003) on pooled OLS residuals: lm1 / slm1 random unit effects (one-sided), lm2 / "
           "slm2 spatial error (two-sided), lm_h both (one-sided joint); slm2 uses the exact variance with "
           "(W + W')/2; clm_lambda spatial error given random effects (two-sided; phi = sigma2_mu/sigma2_v of the "
           "random-effects ML), clm_mu random effects given a spatial error (one-sided; lambda of the pooled "
           "spatial-error ML)",
}


def _panel_lm_tests(design: Design, y: np.ndarray, X: np.ndarray, W: Any) -> dict[str, Any]:
    """Panel LM tests beside the cross-section ones: the transformed within tests with fixed effects, the
    Baltagi-Song-Koh tests for a pooled panel (balanced, one W for every year), "not applicable" otherwise."""
    Q = design.projector
    if Q.n_effects:
        tests = transformed_lm_tests(OLSParts.fit(y, X), design.y, W, Q.D, Q.dtd_pinv)
        return {"within_transformed": {**tests, "note": PANEL_LM_NOTES["within_transformed"]},
                "convention": PANEL_LM_NOTES["untransformed"]}
    if design.n_periods < 2:
        return {}
    if not design.balanced:
        why = "not applicable: unbalanced panel"
    elif not design.fixed_weights(design.channels[0]):
        why = "not applicable: W varies over years"
    else:
        conditional = bsk_conditional_tests(y, X, design.weights[design.channels[0]][0], design.n_periods)
        return {"bsk": {**bsk_tests(OLSParts.fit(y, X), W, design.sample["ccode"].to_numpy()), **conditional,
                        "note": PANEL_LM_NOTES["bsk"]}}
    return {"bsk": {"not_applicable": why + " (the tests need a balanced panel and one W for every year)"}}


def _dispatch(est_name: str, spec: Mapping[str, Any], design: Design, seed: int) -> tuple[Estimate, pd.DataFrame]:
    draws = int(spec.get("impact_draws", 1000))
    dynamic = bool(spec.get("dynamic", False))
    if est_name in ("ols", "slx"):
        est = _fit_ols_like(design, slx=est_name == "slx")
        return est, linear_impacts(est, design.regressors, design.channels if est_name == "slx" else [])
    if est_name in ("sar_ml", "sdm_ml") and spec.get("effects") in RANDOM_EFFECTS:
        est = fit_sar_re(design, estimator=est_name, time_effects=spec["effects"] == "random_time",
                         lee_yu=bool(spec.get("lee_yu", True)))
        return est, spatial_impacts(est, design, draws=draws, seed=seed)
    if est_name in ("sar_ml", "sdm_ml"):
        if draws and len(design.channels) == 1:  # one eigen-decomposition per distinct year for fit and impacts
            with single_thread_blas():
                _spectra(design, design.channels[0], vectors=True)
        est = fit_sar_ml(design, estimator=est_name, lee_yu=bool(spec.get("lee_yu", True)), dynamic=dynamic,
                         se=str(spec.get("se", "classical")))
        return est, spatial_impacts(est, design, draws=draws, seed=seed, long_run=dynamic)
    fn: Callable[..., Estimate] = _CROSS_SECTION[est_name]
    kwargs = {"w_lags": int(spec.get("w_lags", 1))} if est_name in ("sar_gmm", "sac") else {}
    if est_name == "sar_gmm":  # one or several channels
        est = fn(design.y, design.X, design.names, [design.stacked(c) for c in design.channels],
                 list(design.channels), **kwargs)
    else:
        ch = design.channels[0]
        est = fn(design.y, design.X, design.names, design.stacked(ch), ch, **kwargs)
    if est.impacts is not None:
        return est, est.impacts
    if any(t.startswith("rho_") for t in est.terms):
        return est, spatial_impacts(est, design, draws=draws, seed=seed)
    return est, linear_impacts(est, design.regressors, [])


def _dispatch_named(est_name: str, spec: Mapping[str, Any], design: Design,
                    seed: int) -> tuple[Estimate, pd.DataFrame]:
    """:func:`_dispatch`, with a singular system inside spreg or numpy (raw ``LinAlgError``, spreg's "H'H singular")
    turned into one :class:`EstimationError` naming the model, the estimator and what to change."""
    try:
        return _dispatch(est_name, spec, design, seed)
    except (InputError, EstimationError):
        raise
    except Exception as err:
        if not (isinstance(err, np.linalg.LinAlgError) or "singular" in str(err).lower()):
            raise
        log.error("model %r (%s) failed inside the estimator", design.model_id, est_name, exc_info=True)
        channels = ", ".join(design.channels) or "none"
        raise EstimationError(
            f"model {design.model_id!r}: {est_name} found a singular system ({err}); with {design.n_obs} "
            f"observations of {design.n_units} states, channel(s) {channels}: check the channel's links in these "
            "years (weights/<channel>_summary.csv), drop regressors that are (nearly) collinear, or use more years "
            "or states") from None


# spreg's own searches, narrower than the admissible interval: an estimate there was clipped, not found
_SPREG_SEARCH = {("sac", "lambda"): (-0.99, 0.99)}


def _flag_inadmissible(est: Estimate, design: Design, est_name: str) -> None:
    """Mark an estimate not converged when a spatial parameter sits outside or at the edge of its admissible
    interval (from the eigenvalues of every year's W), or at the edge of spreg's search: GMM estimators have no
    such constraint of their own, and spreg searches fixed intervals whatever W is."""
    for term, value in zip(est.terms, est.params, strict=True):
        prefix, _, channel = term.partition("_")
        if prefix not in ("rho", "lambda") or channel not in design.channels:
            continue
        bounds = channel_bounds(design, channel)
        search = _SPREG_SEARCH.get((est_name, prefix))
        if search is not None:
            bounds = (max(bounds[0], search[0]), min(bounds[1], search[1]))
        if at_bound(float(value), bounds):
            est.converged = False
            note = (f"{term} = {float(value):.6g} lies outside or at the edge of its admissible interval "
                    f"({bounds[0]:.6g}, {bounds[1]:.6g})")
            est.message = f"{est.message}; {note}" if est.message else note


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def fit_model(
    spec: Mapping[str, Any],
    panel: pd.DataFrame,
    graphs: Mapping[str, Mapping[int, Any]],
    *,
    seed: int = 20260101,
) -> FitResult:
    """Fit one model of the configuration.

    Parameters
    ----------
    spec : mapping
        One ``models:`` entry; keys in ``SPEC_KEYS`` (schema: :func:`spec_schema`).
    panel : pandas.DataFrame
        Country-year panel with ``ccode``, ``year`` and the named columns.
    graphs : mapping
        channel -> {year -> ``libpysal.graph.Graph``}, ids = COW codes, row-standardised.
    seed : int
        Seed of the impact simulations.

    Returns
    -------
    FitResult

    Raises
    ------
    InputError
        Unknown estimator, key, column or channel; unsupported combination; bad sample.
    EstimationError
        Collinear regressors, singular information matrix.
    """
    t0 = time.perf_counter()
    est_name = _check_spec(spec)
    impute = spec.get("missing") == "impute"
    random = spec.get("effects") in RANDOM_EFFECTS  # the design has a constant; the effects enter the likelihood
    design = build_design({**spec, "effects": "none"} if random else spec, panel, graphs,
                          spatial_x=est_name in ("slx", "sdm_ml", "sdm_conv"), dynamic=bool(spec.get("dynamic", False)),
                          impute_outcome=impute)
    draws = None
    if est_name in BAYES_ESTIMATORS:
        keep, note = identified_sample(est_name, design, str(spec.get("unit_effects", "fixed")))
        if note:
            kept = design.sample.loc[keep, ["ccode", "year"]]
            design = build_design(spec, panel.merge(kept, on=["ccode", "year"]), graphs, impute_outcome=impute)
            design.notes.insert(0, note)
        bayes = fit_bayes(est_name, spec, design)
        estimate, impacts, draws = bayes.estimate, bayes.impacts, bayes.chains.frame()
    elif est_name in CONVEX_ESTIMATORS:
        bayes = fit_convex(spec, design)
        estimate, impacts, draws = bayes.estimate, bayes.impacts, bayes.chains.frame()
    else:
        estimate, impacts = _dispatch_named(est_name, spec, design, seed)
    _flag_inadmissible(estimate, design, est_name)
    estimate.impacts = impacts
    seconds = time.perf_counter() - t0
    if random:
        rho_hat = estimate.spatial("rho")[design.channels[0]]
        profile = pd.DataFrame(profile_re(design, rho_hat, time_effects=spec["effects"] == "random_time",
                                          lee_yu=bool(spec.get("lee_yu", True))),
                               columns=["channel", "rho", "log_likelihood"])
    elif est_name in ("sar_ml", "sdm_ml"):
        profile = profile_log_likelihood(design, np.array(list(estimate.spatial("rho").values())),
                                         lee_yu=bool(spec.get("lee_yu", True)))
    else:
        profile = pd.DataFrame(columns=["channel", "rho", "log_likelihood"])
    fit = _fit_json(spec, est_name, design, estimate, impacts, seconds, seed)
    if est_name in (*BAYES_ESTIMATORS, *CONVEX_ESTIMATORS):
        fit["mcmc"] = bayes.mcmc
        fit["log_likelihood"] = fit["aic"] = None  # no likelihood maximised: the posterior is summarised
    if est_name in CONVEX_ESTIMATORS:
        fit["rho"] = bayes.mcmc["rho_by_channel"]
    if random:
        fit.update(_random_effects_json(spec, est_name, panel, graphs, estimate))
        if not fit["hausman"]["variance_difference_positive_definite"]:
            fit["notes"].append("Hausman test: V_fixed - V_random is not positive definite (|d' (V_fixed - "
                                "V_random)^-1 d| reported, as splm's sphtest); its chi-squared reference is doubtful")
    return FitResult(estimate=estimate, fit=fit, impacts=impacts, sample=design.sample.reset_index(drop=True),
                     profile=profile, draws=draws)


def _random_effects_json(spec: Mapping[str, Any], est_name: str, panel: pd.DataFrame,
                         graphs: Mapping[str, Mapping[int, Any]], estimate: Estimate) -> dict[str, Any]:
    """fit.json entries of a random-effects fit: its effects, phi / sigma2_mu, and the spatial Hausman test
    against the fixed-effects fit of the same sample (unit effects; with ``random_time`` two-way)."""
    fixed_effects = fixed_counterpart(spec["effects"])
    fixed_design = build_design({**spec, "effects": fixed_effects}, panel, graphs, spatial_x=est_name == "sdm_ml")
    fixed = fit_sar_ml(fixed_design, estimator=est_name, lee_yu=bool(spec.get("lee_yu", True)))
    test = hausman(fixed, estimate)
    re = estimate.diagnostics["random_effects"]
    return {
        "effects": spec["effects"],
        "random_effects": {**{k: _num(re[k]) for k in ("phi", "phi_std_error", "sigma2_mu", "sigma2")},
                           "time_transformation": bool(re["time_transformation"])},
        **({"log_likelihood_transformed": _num(estimate.diagnostics["log_likelihood_transformed"])}
           if "log_likelihood_transformed" in estimate.diagnostics else {}),
        "hausman": {"statistic": _num(test["statistic"]), "df": int(test["df"]), "p_value": _num(test["p_value"]),
                    "against": f"{est_name}, effects: {fixed_effects} (lee_yu: {bool(spec.get('lee_yu', True))})",
                    "terms": test["terms"],
                    "variance_difference_positive_definite": test["variance_difference_positive_definite"]},
    }


def _fit_json(spec: Mapping[str, Any], est_name: str, design: Design, est: Estimate, impacts: pd.DataFrame,
              seconds: float, seed: int) -> dict[str, Any]:
    notes = list(design.notes) + [str(n) for n in est.diagnostics.get("notes", [])]
    if est.diagnostics.get("note"):
        notes.append(str(est.diagnostics["note"]))
    if spec.get("dynamic"):
        notes.append("impacts: direct / indirect / total are short-run (the lagged outcome terms not propagated); "
                     "long_run_* are the long-run (steady-state) effects, Elhorst (2014), each year's W held fixed")
        if impacts.attrs.get("long_run"):
            notes.append(str(impacts.attrs["long_run"]))
        if impacts.attrs.get("draws_discarded_long_run"):
            notes.append(f"{impacts.attrs['draws_discarded_long_run']} impact draws without a steady state left out "
                         "of the long-run intervals")
    if "draws_discarded" in impacts.attrs and impacts.attrs["draws_discarded"]:
        notes.append(f"{impacts.attrs['draws_discarded']} impact draws discarded (rho outside its admissible "
                     "interval)")
    if design.effects != "none" and est.aic is not None:
        notes.append("AIC counts the coefficients and spatial parameters, not sigma2 or the fixed effects")
    if "method" in impacts.attrs:
        notes.append(f"impact draws computed by {impacts.attrs['method']}")
    gmm = est_name in ("sar_gmm", "sac")
    fit: dict[str, Any] = {
        "model_id": design.model_id,
        "estimator": est_name,
        "weights": list(design.channels),
        "outcome": spec["outcome"],
        "regressors": list(design.regressors),
        "years": [int(design.years[0]), int(design.years[-1])],
        "effects": design.effects,
        "dynamic": bool(spec.get("dynamic", False)),
        "n_obs": design.n_obs,
        "n_units": design.n_units,
        "n_periods": design.n_periods,
        "balanced": design.balanced,
        "log_likelihood": None if gmm else _num(est.log_likelihood),
        "aic": None if gmm else _num(est.aic),
        "sigma2": _num(est.sigma2),
        "converged": bool(est.converged),
        "message": est.message,
        "rho": {k: _num(v) for k, v in est.spatial("rho").items()},
        "seconds": round(seconds, 3),
        "notes": notes,
        "impact_draws": int(impacts.attrs.get("draws_used", 0)),
        "seed": seed,
    }
    tests = ("lm_error", "lm_lag", "robust_lm_error", "robust_lm_lag", "sarma", "moran_i")
    if any(t in est.diagnostics for t in tests):
        fit["spatial_diagnostics"] = {
            "channel": est.diagnostics.get("channel"),
            **{t: {k: _num(v) for k, v in est.diagnostics[t].items()} for t in tests if t in est.diagnostics},
        }
        for block in ("within_transformed", "bsk"):
            if block in est.diagnostics:
                fit["spatial_diagnostics"][block] = {
                    k: v if isinstance(v, str) else {m: _num(x) for m, x in v.items()}
                    for k, v in est.diagnostics[block].items()}
        if "convention" in est.diagnostics:
            fit["spatial_diagnostics"]["convention"] = est.diagnostics["convention"]
    lam = est.spatial("lambda")
    if lam:
        fit["lambda"] = {k: _num(v) for k, v in lam.items()}
    if design.w_missing:
        fit["w_missing"] = design.w_missing
    if "lee_yu" in est.diagnostics:
        fit["lee_yu"] = bool(est.diagnostics["lee_yu"])
        fit["sigma2_ml"] = _num(est.diagnostics["sigma2_ml"])
        fit["fixed_effects_correction"] = est.diagnostics.get("fixed_effects_correction")
        if "log_likelihood_transformed" in est.diagnostics:
            fit["log_likelihood_transformed"] = _num(est.diagnostics["log_likelihood_transformed"])
    if "se" in est.diagnostics:
        fit["se"] = str(est.diagnostics["se"])
    if "stability" in est.diagnostics:
        fit["stability"] = est.diagnostics["stability"]
    return fit
