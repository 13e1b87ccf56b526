"""The one result type every estimator returns, and its export to the contract files
(``coefficients.csv``, ``fit.json``, ``impacts.csv``; see DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

COEFFICIENT_COLUMNS = ["term", "estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]
IMPACT_COLUMNS = ["term", "channel", "effect", "estimate", "std_error", "conf_low", "conf_high"]


@dataclass
class Estimate:
    """A fitted model.

    ``terms`` names every parameter in ``params`` (spatial ones as ``rho_<channel>`` / ``lambda_<channel>``);
    ``cov`` is their covariance matrix in the same order (``nan`` where no standard error exists).
    Inference is asymptotic normal (z statistics) unless ``df_resid`` is given (t statistics, as for OLS).
    """

    estimator: str
    terms: list[str]
    params: np.ndarray
    cov: np.ndarray
    sigma2: float
    n_obs: int
    log_likelihood: float | None = None
    # parameters counted in AIC: coefficients and spatial ones (not sigma2, as spreg does)
    n_params_likelihood: int | None = None
    df_resid: int | None = None
    converged: bool = True
    message: str = ""
    impacts: pd.DataFrame | None = None  # IMPACT_COLUMNS
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def std_errors(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0, None))

    @property
    def aic(self) -> float | None:
        if self.log_likelihood is None or self.n_params_likelihood is None:
            return None
        return float(-2 * self.log_likelihood + 2 * self.n_params_likelihood)

    def spatial(self, prefix: str) -> dict[str, float]:
        """Spatial parameters with the given prefix (``rho`` or ``lambda``) as channel -> value."""
        return {
            t.split("_", 1)[1]: float(v) for t, v in zip(self.terms, self.params, strict=True)
            if t.startswith(prefix + "_")
        }

    def coefficients(self, level: float = 0.95) -> pd.DataFrame:
        """The coefficient table with Wald statistics, two-sided p-values and ``level`` intervals."""
        se = self.std_errors
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = np.where(se > 0, self.params / se, np.nan)
        dist = stats.t(self.df_resid) if self.df_resid else stats.norm()
        p = 2 * dist.sf(np.abs(stat))
        q = dist.ppf(0.5 + level / 2)
        return pd.DataFrame(
            {
                "term": self.terms,
                "estimate": self.params,
                "std_error": se,
                "statistic": stat,
                "p_value": p,
                "conf_low": self.params - q * se,
                "conf_high": self.params + q * se,
            },
            columns=COEFFICIENT_COLUMNS,
        )
