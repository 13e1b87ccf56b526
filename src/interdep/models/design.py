"""From a country-year panel, per-year weight graphs and a model specification to the arrays an estimator needs.

The design is stacked by year, then by COW code: rows of year ``years[0]`` first, each year's rows sorted by
``ccode``. Each channel's weights stay a list of per-year sparse blocks (never a dense stacked matrix); the
block-diagonal stacked matrix is built on demand. Fixed effects are handled by :class:`EffectsProjector`, an exact
orthogonal projection on the complement of the unit and/or year dummies, valid for unbalanced panels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from interdep.errors import EstimationError, InputError

__all__ = [
    "EFFECTS",
    "Design",
    "EffectsProjector",
    "build_design",
    "check_collinearity",
    "restrict_weights",
    "rows_losing_neighbours",
]

EFFECTS = ("none", "unit", "time", "twoway")
CONST = "const"


@dataclass
class Design:
    """Stacked arrays for one model.

    Attributes
    ----------
    model_id : str
        The model's id (for messages).
    y : numpy.ndarray
        Outcome, shape (n,).
    X : numpy.ndarray
        Exogenous regressors (untransformed), shape (n, k); includes ``const`` when ``effects == "none"``,
        the spatially lagged regressors ``W_<channel>_<x>`` of an SDM / SLX and the dynamic lags.
    names : list of str
        Column names of ``X``.
    regressors : list of str
        The specification's regressors (the terms that get impacts).
    channels : list of str
        Weight channels, in specification order.
    years : numpy.ndarray
        Sorted distinct years in the sample.
    blocks : list of slice
        Row range of each year in the stacked arrays.
    weights : dict
        channel -> list (one per year) of row-standardised ``scipy.sparse.csr_array`` blocks.
    sample : pandas.DataFrame
        ``ccode, year`` of every row, in stacked order.
    effects : str
        ``none``, ``unit``, ``time`` or ``twoway``.
    notes : list of str
        What happened on the way (rows dropped, weights re-standardised, ...).
    w_missing : dict
        How missing state-years changed the weights: ``mode`` (``restandardise`` or ``keep``) and per channel
        ``rows`` (state-years in the sample), ``rows_changed`` (those that lost a neighbour) and ``share``;
        ``warning`` when a share exceeds ``W_ROWS_WARN_SHARE``.
    """

    model_id: str
    y: np.ndarray
    X: np.ndarray
    names: list[str]
    regressors: list[str]
    channels: list[str]
    years: np.ndarray
    blocks: list[slice]
    weights: dict[str, list[sp.csr_array]]
    sample: pd.DataFrame
    effects: str = "none"
    notes: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict, repr=False, compare=False)
    w_missing: dict[str, Any] = field(default_factory=dict)

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_units(self) -> int:
        return int(self.sample["ccode"].nunique())

    @property
    def n_periods(self) -> int:
        return len(self.years)

    @property
    def balanced(self) -> bool:
        """Every unit observed in every year."""
        return self.n_obs == self.n_units * self.n_periods

    def fixed_weights(self, channel: str) -> bool:
        """Whether ``channel``'s weights are the same matrix (same units in the same order) in every year."""
        blocks = self.weights[channel]
        if not self.balanced:
            return False
        first = blocks[0]
        return all((b != first).nnz == 0 for b in blocks[1:])

    def stacked(self, channel: str) -> sp.csr_array:
        """The block-diagonal ``n x n`` weights of ``channel`` (sparse)."""
        return sp.csr_array(sp.block_diag(self.weights[channel], format="csr"))

    def lag(self, channel: str, v: np.ndarray) -> np.ndarray:
        """``W_channel @ v`` for a stacked vector or matrix ``v``, block by block."""
        out = np.empty_like(np.asarray(v, dtype=float))
        for blk, w in zip(self.blocks, self.weights[channel], strict=True):
            out[blk] = w @ v[blk]
        return out

    @cached_property
    def projector(self) -> EffectsProjector:
        return EffectsProjector(self.sample["ccode"].to_numpy(), self.sample["year"].to_numpy(), self.effects)


class EffectsProjector:
    """Exact within transformation ``Q = I - D (D'D)^- D'`` for unit, time or two-way dummies ``D``.

    Works for unbalanced panels: ``D'D`` is small (units + years), so the normal equations are solved directly
    (pseudo-inverse, so the two-way rank deficiency needs no special handling).

    Parameters
    ----------
    units, periods : array_like
        Unit and period label of every row.
    effects : str
        ``none``, ``unit``, ``time`` or ``twoway``.
    """

    def __init__(self, units: np.ndarray, periods: np.ndarray, effects: str):
        if effects not in EFFECTS:
            raise InputError(f"unknown effects {effects!r}; expected one of {', '.join(EFFECTS)}")
        self.effects = effects
        cols = []
        if effects in ("unit", "twoway"):
            cols.append(_dummies(units))
        if effects in ("time", "twoway"):
            cols.append(_dummies(periods))
        self.D = sp.csr_array(sp.hstack(cols, format="csr")) if cols else None
        if self.D is not None:
            dtd = (self.D.T @ self.D).toarray()
            self._dtd_pinv = np.linalg.pinv(dtd, hermitian=True)
            self.rank = int(np.linalg.matrix_rank(dtd, hermitian=True))
        else:
            self.rank = 0

    def __call__(self, v: np.ndarray) -> np.ndarray:
        """``Q v`` for a vector (n,) or matrix (n, k)."""
        v = np.asarray(v, dtype=float)
        if self.D is None:
            return v.copy()
        return v - self.D @ (self._dtd_pinv @ (self.D.T @ v))

    @property
    def dtd_pinv(self) -> np.ndarray | None:
        """Pseudo-inverse of ``D'D`` (``None`` without effects)."""
        return self._dtd_pinv if self.D is not None else None

    @property
    def n_effects(self) -> int:
        """Number of linearly independent dummies projected out (degrees of freedom used)."""
        return self.rank


def _dummies(labels: np.ndarray) -> sp.csr_array:
    _, codes = np.unique(labels, return_inverse=True)
    n = len(codes)
    return sp.csr_array((np.ones(n), (np.arange(n), codes)), shape=(n, codes.max() + 1))


W_MISSING = ("restandardise", "keep")
W_ROWS_WARN_SHARE = 0.05  # fit.json warns when more than this share of W rows lost neighbours


def restrict_weights(w: sp.sparray, ids: Sequence[Any], keep: Sequence[Any], *,
                     restandardise: bool = True) -> tuple[sp.csr_array, bool]:
    """Restrict a weight matrix to the ids in ``keep`` (in that order) and row-standardise it again.

    With ``restandardise=False`` the source weights are kept: a dropped neighbour's weight is lost, not
    redistributed over the neighbours that remain (rows may then sum to less than one).

    Parameters
    ----------
    w : scipy sparse matrix
        Weights over ``ids`` (rows and columns in that order).
    ids : sequence
        The ids of ``w``'s rows.
    keep : sequence
        The ids to keep, in the order wanted; each must be in ``ids``.

    Returns
    -------
    (csr_array, bool)
        The restricted, row-standardised matrix (zero rows stay zero: islands) and whether anything was removed.
    """
    pos = pd.Index(ids).get_indexer(pd.Index(keep))
    if (pos < 0).any():
        missing = [k for k, p in zip(keep, pos, strict=True) if p < 0]
        raise KeyError(missing)
    w = sp.csr_array(w)
    sub = sp.csr_array(w[pos][:, pos])
    sub.eliminate_zeros()
    removed = len(keep) != len(ids)
    if not restandardise:
        return sub, removed
    rs = np.asarray(sub.sum(axis=1)).ravel()
    scale = np.divide(1.0, rs, out=np.zeros_like(rs), where=rs != 0)
    return sp.csr_array(sp.diags_array(scale) @ sub), removed


def rows_losing_neighbours(w: sp.sparray, ids: Sequence[Any], keep: Sequence[Any]) -> int:
    """How many rows of ``w`` kept in ``keep`` lose at least one neighbour (a nonzero weight) to the restriction."""
    pos = pd.Index(ids).get_indexer(pd.Index(keep))
    pos = pos[pos >= 0]
    rows = sp.csr_array(w)[pos]
    rows.eliminate_zeros()
    sub = sp.csr_array(rows[:, pos])
    return int(np.count_nonzero(np.diff(sub.indptr) < np.diff(rows.indptr)))


def check_collinearity(Z: np.ndarray, names: Sequence[str], model_id: str, *, tol: float = 1e-9) -> None:
    """Raise :class:`EstimationError` naming the columns of ``Z`` that are zero or linear combinations of others.

    Uses a column-pivoted-free sequential QR: a column is flagged when its part orthogonal to the columns before
    it is below ``tol`` times its own norm (or the column is zero).
    """
    if Z.shape[1] == 0:
        return
    check_enough_rows(Z.shape[0], list(names), model_id)
    norms = np.linalg.norm(Z, axis=0)
    scale = np.where(norms > 0, norms, 1.0)
    Zs = Z / scale
    _, r = np.linalg.qr(Zs, mode="reduced")
    diag = np.abs(np.diag(r))
    bad = [n for n, d, nm in zip(names, diag, norms, strict=True) if nm <= 1e-12 * max(norms.max(), 1) or d < tol]
    if len(bad) > 0 or np.linalg.matrix_rank(Zs) < Z.shape[1]:
        if not bad:
            bad = list(names)
        raise EstimationError(
            f"model {model_id!r}: regressors are perfectly collinear (after the {len(names)}-column design and any "
            f"fixed effects): {', '.join(bad)} (zero, constant within the effects, or a linear combination of "
            "earlier columns)"
        )


def _spec_list(spec: Mapping[str, Any], key: str) -> list[Any]:
    value = spec.get(key, [])
    if isinstance(value, str | int):
        return [value]
    return list(value)


def _years_range(spec: Mapping[str, Any], panel: pd.DataFrame) -> tuple[int, int]:
    years = _spec_list(spec, "years")
    if not years:
        return int(panel["year"].min()), int(panel["year"].max())
    if len(years) > 2:
        raise InputError(f"model {spec['id']!r}: 'years' must be [first, last] or [year]", value=years)
    return int(years[0]), int(years[-1])


def _lagged_outcome(
    panel: pd.DataFrame, outcome: str, channels: Sequence[str], graphs: Mapping[str, Mapping[int, Any]],
    restandardise: bool = True,
) -> pd.DataFrame:
    """``<outcome>_lag1`` and ``W_<channel>_<outcome>_lag1`` per (ccode, year): the previous year's values.

    The spatial lag of year t-1 uses that year's graph restricted to the states with a non-missing outcome
    (row-standardised again unless ``restandardise`` is false).
    """
    prev = panel.loc[panel[outcome].notna(), ["ccode", "year", outcome]]
    out = prev.rename(columns={outcome: f"{outcome}_lag1"}).copy()
    for ch in channels:
        vals = pd.Series(np.nan, index=out.index)
        for year, rows in prev.groupby("year"):
            g = graphs[ch].get(int(year))
            if g is None:
                continue
            ids = list(g.unique_ids)
            mask = rows["ccode"].isin(set(ids))
            w, _ = restrict_weights(g.sparse, ids, rows.loc[mask, "ccode"].tolist(), restandardise=restandardise)
            vals.loc[rows.index[mask]] = w @ rows.loc[mask, outcome].to_numpy(dtype=float)
        out[f"W_{ch}_{outcome}_lag1"] = vals
    return out.assign(year=out["year"] + 1)


def build_design(
    spec: Mapping[str, Any],
    panel: pd.DataFrame,
    graphs: Mapping[str, Mapping[int, Any]],
    *,
    spatial_x: bool = False,
    dynamic: bool = False,
    impute_outcome: bool = False,
) -> Design:
    """Select, clean and stack the data of one model.

    Parameters
    ----------
    spec : mapping
        The model entry (``id``, ``outcome``, ``regressors``, ``weights``, ``years``, ``effects``; optional
        ``wx_regressors``: the regressors to lag spatially, default all; ``complete_cases``: further columns a
        row must have non-missing to enter, so that nested models are fitted on one sample; ``w_missing``:
        ``restandardise`` (default: each year's W restricted to the states in the sample and row-standardised
        again) or ``keep`` (restricted, the source weights kept: a missing neighbour's weight is lost, not
        redistributed)).
    panel : pandas.DataFrame
        Country-year panel with ``ccode``, ``year`` and the named columns.
    graphs : mapping
        channel -> {year -> libpysal.graph.Graph} with ids = COW codes.
    spatial_x : bool
        Add ``W_<channel>_<x>`` for each channel and regressor (SDM, SLX).
    dynamic : bool
        Add ``<outcome>_lag1`` and ``W_<channel>_<outcome>_lag1`` (previous year's values; rows without them
        are dropped).
    impute_outcome : bool
        Keep the rows whose outcome alone is missing (``y`` is NaN there), so that every year's W keeps the
        states the source has; the estimator imputes them (``missing: impute`` of ``sar_tobit`` / ``sar_probit``).
        Rows with a missing regressor are still dropped.

    Returns
    -------
    Design

    Raises
    ------
    InputError
        Unknown column or channel, no weights for a year in the sample, constant outcome, empty sample.
    EstimationError
        Perfectly collinear regressors (checked by the estimators after any fixed-effects projection).
    """
    mid = spec.get("id", "<unnamed>")
    outcome = spec.get("outcome")
    regressors = _spec_list(spec, "regressors")
    channels = _spec_list(spec, "weights")
    effects = spec.get("effects", "none")
    complete = _spec_list(spec, "complete_cases")
    if effects not in EFFECTS:
        raise InputError(f"model {mid!r}: unknown effects {effects!r}; expected one of {', '.join(EFFECTS)}")
    for col in ["ccode", "year", outcome, *regressors, *complete]:
        if col not in panel.columns:
            raise InputError(f"model {mid!r}: column {col!r} not in the panel (panel columns: "
                             f"{', '.join(map(str, panel.columns))})", value=col)
    for ch in channels:
        if ch not in graphs:
            raise InputError(
                f"model {mid!r}: unknown weights channel {ch!r}; available: {', '.join(sorted(graphs))}", value=ch
            )
    wx = _spec_list(spec, "wx_regressors") or list(regressors)
    for x in wx:
        if x not in regressors:
            raise InputError(f"model {mid!r}: wx_regressors entry {x!r} is not among the regressors", value=x)
    if spatial_x and not channels:
        raise InputError(f"model {mid!r}: this estimator needs at least one weights channel")
    w_missing = spec.get("w_missing", "restandardise")
    if w_missing not in W_MISSING:
        raise InputError(f"model {mid!r}: unknown w_missing {w_missing!r}; expected one of {', '.join(W_MISSING)}",
                         value=w_missing)
    restd_mode = w_missing == "restandardise"
    y0, y1 = _years_range(spec, panel)
    notes: list[str] = []

    data = panel.loc[(panel["year"] >= y0) & (panel["year"] <= y1), ["ccode", "year", outcome, *regressors]]
    data = data.loc[:, ~data.columns.duplicated()].copy()
    if complete:
        incomplete = panel.loc[data.index, complete].isna().any(axis=1)
        if incomplete.any():
            notes.append(f"{int(incomplete.sum())} of {len(data)} rows dropped (missing in complete_cases "
                         f"{', '.join(complete)})")
        data = data.loc[~incomplete]
    extra: list[str] = []
    if dynamic:
        lagged = _lagged_outcome(panel, outcome, channels, graphs, restandardise=restd_mode)
        extra = [c for c in lagged.columns if c not in ("ccode", "year")]
        data = data.merge(lagged, on=["ccode", "year"], how="left")
    n_before = len(data)
    data = data.dropna(subset=[*([] if impute_outcome else [outcome]), *regressors, *extra])
    dropped = n_before - len(data)
    if dropped:
        what = "regressor" if impute_outcome else "outcome, regressor"
        notes.append(f"{dropped} of {n_before} rows dropped (missing {what}{' or lag' if dynamic else ''})")
    if impute_outcome and data[outcome].isna().any():
        notes.append(f"{int(data[outcome].isna().sum())} of {len(data)} rows with a missing outcome kept and "
                     "their outcome imputed (missing: impute)")
    if data.empty or data[outcome].isna().all():
        raise InputError(f"model {mid!r}: no rows left in years {y0}-{y1} after dropping missing values")
    data = data.sort_values(["year", "ccode"], kind="mergesort").reset_index(drop=True)
    y = data[outcome].to_numpy(dtype=float)
    if np.nanmax(y) == np.nanmin(y):
        raise InputError(f"model {mid!r}: outcome {outcome!r} is constant over the sample",
                         value=float(np.nanmax(y)))

    years = np.unique(data["year"].to_numpy())
    starts = np.searchsorted(data["year"].to_numpy(), years, side="left")
    ends = np.searchsorted(data["year"].to_numpy(), years, side="right")
    blocks = [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]
    weights: dict[str, list[sp.csr_array]] = {}
    w_report: dict[str, Any] = {"mode": w_missing, "channels": {}}
    for ch in channels:
        weights[ch], restd, changed = _channel_blocks(mid, ch, graphs[ch], data, years, blocks, restd_mode)
        if restd:
            notes.append(f"weights {ch!r} restricted to the sample's states"
                         f"{' and row-standardised again' if restd_mode else ' (source weights kept)'} in "
                         f"{restd} of {len(years)} years")
        share = changed / len(data)
        w_report["channels"][ch] = {"rows": len(data), "rows_changed": changed, "share": share}
        if share > W_ROWS_WARN_SHARE:
            msg = (f"weights {ch!r}: {changed} of {len(data)} rows ({share:.1%}) lost neighbours missing from the "
                   "sample; " + ("their weights were redistributed over the neighbours present "
                                 "(w_missing: restandardise)" if restd_mode else
                                 "their weights were dropped (w_missing: keep)")
                   + "; the spatial estimates can depend on this (docs/missing_neighbours.md)")
            w_report.setdefault("warnings", []).append(msg)
            notes.append("WARNING: " + msg)

    names = [] if effects != "none" else [CONST]
    cols = [] if effects != "none" else [np.ones(len(y))]
    for x in regressors:
        names.append(x)
        cols.append(data[x].to_numpy(dtype=float))
    design = Design(
        model_id=mid, y=y, X=np.empty((len(y), 0)), names=[], regressors=list(regressors), channels=channels,
        years=years, blocks=blocks, weights=weights, sample=data[["ccode", "year"]].copy(), effects=effects,
        notes=notes, w_missing=w_report if channels else {},
    )
    if spatial_x:
        for ch in channels:
            for x in wx:
                names.append(f"W_{ch}_{x}")
                cols.append(design.lag(ch, data[x].to_numpy(dtype=float)))
    for c in extra:
        names.append(c)
        cols.append(data[c].to_numpy(dtype=float))
    design.X = np.column_stack(cols) if cols else np.empty((len(y), 0))
    design.names = names
    check_enough_rows(design.n_obs, names, mid, years=(y0, y1))
    check_links(design)
    return design


def check_enough_rows(n_obs: int, names: Sequence[str], model_id: str, years: tuple[int, int] | None = None) -> None:
    """Raise :class:`EstimationError` when the sample has no more rows than the design has columns."""
    if n_obs > len(names):
        return
    when = f" in {years[0]}-{years[1]}" if years else ""
    raise EstimationError(
        f"model {model_id!r}: {n_obs} observation(s){when} for {len(names)} coefficient(s) ({', '.join(names)}); "
        "use more years or states, or fewer regressors"
    )


def check_links(design: Design) -> None:
    """Raise :class:`EstimationError` when a channel has no link among the sample's states in any year (every
    state an island): no spatial parameter or diagnostic can be estimated on it."""
    for ch, blocks in design.weights.items():
        if all(w.nnz == 0 for w in blocks):
            years = f"{int(design.years[0])}-{int(design.years[-1])}"
            raise EstimationError(
                f"model {design.model_id!r}: weights channel {ch!r} has no links among the sample's "
                f"{design.n_units} states in {years} (every state is an island); use another channel, more years "
                "or states, or a model without this channel"
            )


def _channel_blocks(
    mid: str, ch: str, by_year: Mapping[int, Any], data: pd.DataFrame, years: np.ndarray, blocks: list[slice],
    restandardise: bool = True,
) -> tuple[list[sp.csr_array], int, int]:
    """Each year's weights restricted to the sample; how many years changed and how many rows lost neighbours."""
    out = []
    restd = changed = 0
    codes = data["ccode"].to_numpy()
    for year, blk in zip(years, blocks, strict=True):
        g = by_year.get(int(year))
        if g is None:
            raise InputError(f"model {mid!r}: weights channel {ch!r} has no graph for year {int(year)}",
                             value=int(year))
        keep = codes[blk].tolist()
        try:
            w, removed = restrict_weights(g.sparse, list(g.unique_ids), keep, restandardise=restandardise)
        except KeyError as err:
            raise InputError(
                f"model {mid!r}: states in the panel but not in weights {ch!r} for year {int(year)}",
                value=err.args[0][:10],
            ) from err
        restd += int(removed)
        if removed:
            changed += rows_losing_neighbours(g.sparse, list(g.unique_ids), keep)
        out.append(w)
    return out, restd, changed
