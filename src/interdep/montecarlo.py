"""Monte Carlo studies of the estimators: designs, simulation, fits and the summary (bias, RMSE, coverage).

A *study* (``montecarlo:`` in the configuration, see ``config/montecarlo.yaml``) has

- ``estimators``: name -> a model specification without data (``estimator``, ``effects``, optionally ``weights``
  = the channels it uses, default all the design's channels); each is fitted with :func:`interdep.models.fit.fit_model`,
  the pipeline's own entry point, so the study validates exactly the code the pipeline runs;
- ``designs``: each a data-generating process ``y_t = sum_c rho_c W_ct y_t + intercept + X_t beta
  + sum_c W_ct X_t theta_c + alpha + gamma_t + sigma h_t e_t`` for ``n`` states over ``t`` periods: channels
  (``rho``, kind of ``W``: k-nearest neighbours on random coordinates, a random graph of mean degree ``k`` or a
  ring where every state has ``k`` neighbours,
  fixed or time-varying), unit / time / two-way effects, the ``beta``'s (and optional ``theta``'s, SDM), a share
  ``drop`` of state-years missing at random (unbalanced panel), optional heteroskedasticity ``hetero`` and the
  estimators to run on it;
- ``replications`` split into chunks of ``chunk_size`` (one Snakemake job per design and chunk).

Randomness: the geography (the ``W``'s) of a design is drawn once from ``(seed, design id)``, so every replication
of a design sees the same weights; each replication's ``X``, effects and errors are drawn from
``(seed, design id, replication)`` (:func:`replication_seed`). Results therefore do not depend on how the
replications are split into chunks, nor on where a chunk runs (locally or on a cluster node).

This is the package's one panel simulator: the tests, the benchmarks and the Monte Carlo workflow all draw their
panels with :func:`simulate` (or :func:`simulate_panel`, a keyword front end for one-off panels).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from libpysal.graph import Graph

from interdep.errors import EstimationError, InputError
from interdep.io import atomic_write, read_table, write_table, write_text
from interdep.models.design import restrict_weights
from interdep.models.fit import fit_model
from interdep.models.panel_ml import single_thread_blas

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "REPLICATION_COLUMNS",
    "SUMMARY_COLUMNS",
    "Channel",
    "Design",
    "chunk_replications",
    "design_graphs",
    "n_chunks",
    "parse_study",
    "replication_seed",
    "run_chunk",
    "simulate",
    "simulate_panel",
    "summarise",
    "true_value",
    "write_chunk",
    "write_summary",
]

REPLICATION_COLUMNS = ["design", "estimator", "replication", "term", "truth", "estimate", "std_error",
                       "conf_low", "conf_high", "converged", "error"]
SUMMARY_COLUMNS = ["design", "estimator", "term", "truth", "replications", "failed", "mean", "bias", "bias_mcse",
                   "rmse", "sd", "mean_se", "coverage", "coverage_mcse"]
W_KINDS = ("knn", "random", "ring")
ESTIMATOR_OPTIONS = ("lee_yu", "w_missing", "se", "mcmc")  # model-entry options an estimator of a study may set
EFFECTS = ("none", "unit", "time", "twoway", "random", "random_time")  # random*: unit effects independent of X
FIRST_YEAR = 2000
OUTCOME = "y"


@dataclass(frozen=True)
class Channel:
    """One interdependence channel of a design: its true ``rho`` and how its weights are drawn."""

    name: str
    rho: float
    w: str = "knn"          # knn: k nearest neighbours on random coordinates; random: random graph, mean degree k;
    #                         ring: states on a circle, each linked to the k // 2 nearest on either side (every
    #                         state has k neighbours, so diag(G) is constant: ML stays consistent under
    #                         heteroskedasticity, Lin & Lee 2010); varying: the order on the circle redrawn
    k: int = 4
    varying: bool = False   # a new W every period (coordinates jittered / graph redrawn)


@dataclass(frozen=True)
class Design:
    """A data-generating process and the estimators run on it."""

    id: str
    n: int
    t: int
    channels: tuple[Channel, ...]
    beta: tuple[float, ...] = (1.0, -0.5)
    intercept: float = 1.0
    sigma: float = 1.0
    effects: str = "none"
    estimators: tuple[str, ...] = ()
    theta: tuple[float, ...] = ()   # SDM: W_c X coefficients, channel by channel (len = channels x regressors)
    drop: float = 0.0               # share of state-years missing at random (drawn anew in every replication)
    hetero: float = 0.0             # error sd_it = sigma * exp(hetero * x1_it / 2); 0 = homoskedastic

    @property
    def regressors(self) -> list[str]:
        return [f"x{j + 1}" for j in range(len(self.beta))]

    @property
    def years(self) -> list[int]:
        return [FIRST_YEAR + s for s in range(self.t)]

    @property
    def ids(self) -> list[int]:
        """State codes (COW-like integers)."""
        return [int(10 * (i + 1)) for i in range(self.n)]


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def replication_seed(seed: int, design_id: str, replication: int) -> np.random.SeedSequence:
    """The seed of one replication, a function of the study seed, the design's id and the replication only."""
    return np.random.SeedSequence([int(seed), _stable_int(design_id), int(replication)])


def _geography_seed(seed: int, design_id: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(seed), _stable_int(design_id), 2**32 - 1])


# ----------------------------------------------------------------------------------------------- the study spec
def parse_study(study: Mapping[str, Any], source: str = "config") -> tuple[list[Design], dict[str, dict[str, Any]]]:
    """Check a ``montecarlo:`` section and return its designs and estimators.

    Raises :class:`InputError` naming the key and value of the first problem (beyond the JSON schema): unknown
    estimator names, duplicated design ids, non-stationary ``rho``'s, estimators needing channels the design lacks.
    """
    estimators = {name: dict(spec) for name, spec in (study.get("estimators") or {}).items()}
    if not estimators:
        raise InputError("no estimators", file=source, row="montecarlo.estimators")
    designs, seen = [], set()
    for i, d in enumerate(study.get("designs") or []):
        where = f"montecarlo.designs[{i}]"
        if d["id"] in seen:
            raise InputError("design id used twice", file=source, row=f"{where}.id", value=d["id"])
        seen.add(d["id"])
        channels = tuple(Channel(name=name, rho=float(c["rho"]), w=c.get("w", "knn"), k=int(c.get("k", 4)),
                                 varying=bool(c.get("varying", False)))
                         for name, c in d["channels"].items())
        for c in channels:
            if c.w not in W_KINDS:
                raise InputError(f"unknown kind of W (known: {', '.join(W_KINDS)})", file=source,
                                 row=f"{where}.channels.{c.name}.w", value=c.w)
            if c.w == "ring" and (c.k % 2 or c.k >= int(d["n"])):
                raise InputError("a ring needs an even k below n", file=source,
                                 row=f"{where}.channels.{c.name}.k", value=c.k)
            if not 1 <= c.k < int(d["n"]):
                raise InputError("k must be between 1 and n - 1", file=source, row=f"{where}.channels.{c.name}.k",
                                 value=c.k)
        if sum(abs(c.rho) for c in channels) >= 1:
            raise InputError("the sum of |rho| over the channels must be below 1 (row-standardised W)",
                             file=source, row=f"{where}.channels", value=[c.rho for c in channels])
        names = tuple(d.get("estimators") or estimators)
        for name in names:
            if name not in estimators:
                raise InputError(f"unknown estimator (known: {', '.join(estimators)})", file=source,
                                 row=f"{where}.estimators", value=name)
            missing = set(estimators[name].get("weights") or []) - {c.name for c in channels}
            if missing:
                raise InputError(f"estimator {name!r} uses channels the design lacks", file=source,
                                 row=f"{where}.estimators", value=sorted(missing))
        effects = d.get("effects", "none")
        if effects not in EFFECTS:
            raise InputError(f"unknown effects (known: {', '.join(EFFECTS)})", file=source, row=f"{where}.effects",
                             value=effects)
        beta = tuple(float(b) for b in d.get("beta", (1.0, -0.5)))
        theta = tuple(float(v) for v in d.get("theta", ()))
        if theta and len(theta) != len(beta) * len(channels):
            raise InputError("theta needs one value per channel and regressor", file=source, row=f"{where}.theta",
                             value=list(theta))
        drop = float(d.get("drop", 0.0))
        if not 0 <= drop < 1:
            raise InputError("drop must be in [0, 1)", file=source, row=f"{where}.drop", value=drop)
        designs.append(Design(id=d["id"], n=int(d["n"]), t=int(d["t"]), channels=channels, beta=beta,
                              intercept=float(d.get("intercept", 1.0)), sigma=float(d.get("sigma", 1.0)),
                              effects=effects, estimators=names, theta=theta, drop=drop,
                              hetero=float(d.get("hetero", 0.0))))
    if not designs:
        raise InputError("no designs", file=source, row="montecarlo.designs")
    return designs, estimators


def n_chunks(replications: int, chunk_size: int) -> int:
    """Number of chunks of ``chunk_size`` replications (the last may be shorter)."""
    return math.ceil(int(replications) / int(chunk_size))


def chunk_replications(chunk: int, replications: int, chunk_size: int) -> range:
    """The replication numbers of chunk ``chunk`` (0-based)."""
    start = int(chunk) * int(chunk_size)
    if not 0 <= start < int(replications):
        raise InputError("chunk out of range", row="chunk", value=chunk)
    return range(start, min(start + int(chunk_size), int(replications)))


# ----------------------------------------------------------------------------------------------- simulation
def _row_standardised(a: np.ndarray, ids: list[int]) -> Graph:
    np.fill_diagonal(a, 0.0)
    return Graph.from_sparse(sp.csr_array(a), ids=ids).transform("r")


def _knn(coords: np.ndarray, k: int) -> np.ndarray:
    d = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1, kind="stable")[:, :k]
    n = len(coords)
    a = np.zeros((n, n))
    a[np.repeat(np.arange(n), k), nn.ravel()] = 1.0
    return np.maximum(a, a.T)  # symmetric (union), so every state has at least k neighbours


def knn_graph(coords: np.ndarray, ids: list[int], k: int) -> Graph:
    """Row-standardised symmetric (union) k-nearest-neighbour graph of points ``coords``, ids ``ids``."""
    return _row_standardised(_knn(coords, k), ids)


def _ring(n: int, k: int) -> np.ndarray:
    """Circular neighbours: each of ``n`` states linked to the ``k // 2`` nearest on either side (``k`` even)."""
    a = np.zeros((n, n))
    for step in range(1, k // 2 + 1):
        a[np.arange(n), (np.arange(n) + step) % n] = 1.0
        a[np.arange(n), (np.arange(n) - step) % n] = 1.0
    return a


def _random_graph(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    upper = np.triu(rng.uniform(size=(n, n)) < k / (n - 1), 1).astype(float)
    return upper + upper.T  # isolated states (islands) are possible and kept, as in real channels


def design_graphs(design: Design, seed: int) -> dict[str, dict[int, Graph]]:
    """The weights of a design: channel -> {year -> row-standardised Graph}, the same in every replication."""
    rng = np.random.default_rng(_geography_seed(seed, design.id))
    ids = design.ids
    graphs: dict[str, dict[int, Graph]] = {}
    for c in design.channels:
        base = rng.uniform(size=(design.n, 2))
        fixed = None
        graphs[c.name] = {}
        for year in design.years:
            if c.w == "ring":  # varying: the states' order on the circle drawn anew every period
                a = _ring(design.n, c.k)
                if c.varying:
                    perm = rng.permutation(design.n)
                    a = a[np.ix_(perm, perm)]
            elif c.w == "knn":
                coords = base + rng.normal(scale=0.05, size=base.shape) if c.varying else base
                a = _knn(coords, c.k) if (c.varying or fixed is None) else fixed
            else:
                a = _random_graph(rng, design.n, c.k) if (c.varying or fixed is None) else fixed
            fixed = a
            graphs[c.name][year] = _row_standardised(a.copy(), ids)
    return graphs


def simulate(design: Design, graphs: Mapping[str, Mapping[int, Graph]], seed: int, replication: int) -> pd.DataFrame:
    """One replication's panel (``ccode, year, y, x1, ...``) drawn from the design's process.

    ``X`` is correlated with the unit effects (``x = z + 0.5 alpha``), so ignoring them biases the estimates;
    with ``effects`` ``random`` / ``random_time`` the unit effects ``alpha ~ N(0, 1)`` are independent of ``X``
    (random effects, ``phi = 1 / sigma^2``), ``random_time`` adds year effects.
    With ``drop > 0`` each state-year is missing with that probability (independently, anew in every
    replication); the process then runs on the states present, with each year's ``W`` restricted to them and
    row-standardised again (what the estimators' ``w_missing: restandardise`` assumes), and the missing rows are
    absent from the panel. With ``hetero != 0`` the error of state-year ``it`` has standard deviation
    ``sigma * exp(hetero * x1_it / 2)``.
    """
    rng = np.random.default_rng(replication_seed(seed, design.id, replication))
    n, k = design.n, len(design.beta)
    ids = np.asarray(design.ids)
    alpha = rng.normal(size=n) if design.effects in ("unit", "twoway", "random", "random_time") else np.zeros(n)
    gamma = rng.normal(size=design.t) if design.effects in ("time", "twoway", "random_time") else np.zeros(design.t)
    shift = 0.5 * alpha if design.effects in ("unit", "twoway") else np.zeros(n)  # X correlated with fixed effects
    theta = np.asarray(design.theta, dtype=float).reshape(len(design.channels), k) if design.theta else None
    frames = []
    for s, year in enumerate(design.years):
        X = rng.normal(size=(n, k)) + shift[:, None]
        e = rng.normal(size=n)
        keep = rng.uniform(size=n) >= design.drop if design.drop > 0 else np.ones(n, dtype=bool)
        sd = design.sigma * np.exp(design.hetero * X[:, 0] / 2) if design.hetero else design.sigma
        mu = design.intercept + X @ np.asarray(design.beta) + alpha + gamma[s] + sd * e
        idx = np.flatnonzero(keep)
        A = np.eye(len(idx))
        mu = mu[idx]
        for c, ch in enumerate(design.channels):
            W = graphs[ch.name][year].sparse
            if len(idx) < n:
                W, _ = restrict_weights(W, list(ids), list(ids[idx]))
            W = W.toarray()
            A -= ch.rho * W
            if theta is not None:
                mu = mu + (W @ X[idx]) @ theta[c]
        y = np.linalg.solve(A, mu)
        frame = pd.DataFrame(X[idx], columns=design.regressors)
        frame.insert(0, OUTCOME, y)
        frame.insert(0, "year", year)
        frame.insert(0, "ccode", ids[idx])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def simulate_panel(
    n: int = 40,
    t: int = 5,
    rho: tuple[float, ...] = (0.4,),
    beta: tuple[float, ...] = (1.0, -1.0),
    theta: tuple[float, ...] | None = None,
    effects: str = "none",
    varying: bool = True,
    drop: float = 0.0,
    seed: int = 0,
    k: int = 4,
    hetero: float = 0.0,
) -> tuple[pd.DataFrame, dict[str, dict[int, Graph]]]:
    """A one-off simulated panel and its weights: :func:`simulate` on a :class:`Design` built from keywords.

    ``y = sum_c rho_c W_ct y + 1 + X beta (+ sum_c W_ct X theta_c) + effects + e`` with channels ``c0, c1, ...``:
    symmetrised kNN graphs (``k + c`` neighbours) on random coordinates, jittered every year when ``varying``;
    ``drop`` is the share of state-years missing at random (unbalanced panel). Returns the panel (``ccode, year,
    y, x1, ...``) and channel -> {year -> row-standardised Graph over all ``n`` states}; the estimators restrict
    each year's graph to the states present, as the process did.
    """
    design = Design(id="simulate_panel", n=n, t=t, effects=effects, beta=tuple(beta), intercept=1.0,
                    channels=tuple(Channel(name=f"c{c}", rho=float(r), w="knn", k=k + c, varying=varying)
                                   for c, r in enumerate(rho)),
                    theta=tuple(theta) if theta is not None else (), drop=drop, hetero=hetero)
    graphs = design_graphs(design, seed)
    return simulate(design, graphs, seed, 0), graphs


# ----------------------------------------------------------------------------------------------- fits
def model_spec(design: Design, name: str, estimator: Mapping[str, Any]) -> dict[str, Any]:
    """The ``models:``-style specification that :func:`fit_model` gets for ``estimator`` on ``design``."""
    weights = list(estimator.get("weights") or [c.name for c in design.channels])
    if estimator["estimator"] == "ols" and not estimator.get("weights"):
        weights = weights[:1]  # OLS uses a channel for its residual diagnostics only
    return {"id": f"{design.id}.{name}", "estimator": estimator["estimator"], "weights": weights,
            "outcome": OUTCOME, "regressors": design.regressors, "years": [design.years[0], design.years[-1]],
            "effects": estimator.get("effects", "none"), "impact_draws": 0,
            **{k: estimator[k] for k in ESTIMATOR_OPTIONS if k in estimator}}


def true_value(design: Design, term: str) -> float:
    """The true value of a coefficient named ``term`` (NaN when the process has no such parameter).

    The convex-combination estimators' terms (``sar_conv`` / ``sdm_conv``): ``rho = sum_c rho_c``, ``gamma_c =
    rho_c / rho`` and ``W_<x> = sum_c theta_c,x`` where the process is of that form (every ``theta_c`` equal to
    ``gamma_c`` times that sum; otherwise NaN).
    """
    if term == "const":
        return design.intercept
    if term in design.regressors:
        return design.beta[design.regressors.index(term)]
    for c in design.channels:
        if term == f"rho_{c.name}":
            return c.rho
    rho = sum(c.rho for c in design.channels)
    if term == "rho":
        return rho
    if term.startswith("gamma_") and rho != 0:
        return next((c.rho / rho for c in design.channels if term == f"gamma_{c.name}"), math.nan)
    if term.startswith("W_") and term[2:] in design.regressors and rho != 0:
        j, k = design.regressors.index(term[2:]), len(design.beta)
        theta = [design.theta[c * k + j] if design.theta else 0.0 for c in range(len(design.channels))]
        convex = all(math.isclose(t, c.rho / rho * sum(theta), abs_tol=1e-12)
                     for t, c in zip(theta, design.channels, strict=True))
        return sum(theta) if convex else math.nan
    for c, ch in enumerate(design.channels):
        for j, x in enumerate(design.regressors):
            if term == f"W_{ch.name}_{x}":
                return design.theta[c * len(design.beta) + j] if design.theta else 0.0
    if term.startswith(("W_", "lambda_")):
        return 0.0  # no spatially lagged X beyond theta and no spatial error in the process
    return math.nan


def run_chunk(design: Design, estimators: Mapping[str, Mapping[str, Any]], replications: Iterable[int],
              seed: int, level: float = 0.95) -> pd.DataFrame:
    """Simulate and fit the given replications of ``design`` with each of its estimators.

    Returns one row per replication, estimator and coefficient (``REPLICATION_COLUMNS``), for random-effects fits
    also one with term ``hausman_p_value`` (the Hausman test's p-value as ``estimate``). A fit that fails with
    an :class:`EstimationError` gives one row with term ``<failed>`` and the message; other errors propagate.
    """
    graphs = design_graphs(design, seed)
    rows: list[dict[str, Any]] = []
    for r in replications:
        with single_thread_blas():  # n x n solves: BLAS threads only add overhead (see panel_ml)
            panel = simulate(design, graphs, seed, r)
        for name in design.estimators:
            spec = model_spec(design, name, estimators[name])
            try:
                result = fit_model(spec, panel, graphs, seed=seed)
            except EstimationError as err:
                rows.append({"design": design.id, "estimator": name, "replication": r, "term": "<failed>",
                             "converged": False, "error": str(err)})
                continue
            coefs = result.estimate.coefficients(level=level)
            converged = bool(result.fit["converged"])
            message = "" if converged else f"not converged: {result.fit.get('message') or 'no message'}"
            for row in coefs.itertuples(index=False):
                rows.append({"design": design.id, "estimator": name, "replication": r, "term": row.term,
                             "truth": true_value(design, row.term), "estimate": row.estimate,
                             "std_error": row.std_error, "conf_low": row.conf_low, "conf_high": row.conf_high,
                             "converged": converged, "error": message})
            if "hausman" in result.fit:  # random effects: the spatial Hausman test's p-value (no true value)
                rows.append({"design": design.id, "estimator": name, "replication": r, "term": "hausman_p_value",
                             "truth": np.nan, "estimate": result.fit["hausman"]["p_value"],
                             "converged": converged, "error": message})
    frame = pd.DataFrame(rows, columns=REPLICATION_COLUMNS)
    frame["error"] = frame["error"].fillna("")
    return frame


# ----------------------------------------------------------------------------------------------- summary
def summarise(replications: pd.DataFrame) -> pd.DataFrame:
    """Bias, RMSE and interval coverage per design, estimator and coefficient with a known true value.

    Rows keep the order in which designs, estimators and terms first appear in ``replications``.
    Failed or non-converged fits are counted in ``failed`` and left out of the statistics. ``bias_mcse`` and
    ``coverage_mcse`` are the Monte Carlo standard errors of the bias and of the coverage rate.
    """
    df = replications.copy()
    df["converged"] = df["converged"].astype(str).str.lower().isin(["true", "1"])
    failed = (df.loc[~df["converged"]].groupby(["design", "estimator"])["replication"].nunique()
              .rename("failed"))
    ok = df.loc[df["converged"] & df["truth"].notna() & (df["term"] != "<failed>")]
    out = []
    for (design, estimator, term), g in ok.groupby(["design", "estimator", "term"], sort=False):
        truth = float(g["truth"].iloc[0])
        err = g["estimate"].to_numpy(float) - truth
        n = len(err)
        inside = ((g["conf_low"] <= truth) & (truth <= g["conf_high"])).to_numpy()
        cover = float(inside.mean())
        sd = float(np.std(g["estimate"].to_numpy(float), ddof=1)) if n > 1 else math.nan
        out.append({"design": design, "estimator": estimator, "term": term, "truth": truth, "replications": n,
                    "failed": int(failed.get((design, estimator), 0)), "mean": float(g["estimate"].mean()),
                    "bias": float(err.mean()), "bias_mcse": sd / math.sqrt(n) if n > 1 else math.nan,
                    "rmse": float(np.sqrt(np.mean(err**2))), "sd": sd, "mean_se": float(g["std_error"].mean()),
                    "coverage": cover, "coverage_mcse": math.sqrt(cover * (1 - cover) / n)})
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def summary_markdown(summary: pd.DataFrame, replications: int, level: float) -> str:
    """The summary as a Markdown table (3 decimals), with a header line stating the study's size."""
    cols = ["design", "estimator", "term", "truth", "replications", "failed", "bias", "rmse", "mean_se", "sd",
            "coverage"]
    lines = [f"Monte Carlo summary: {replications} replications per design; coverage of {level:.0%} intervals.",
             "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in summary[cols].itertuples(index=False):
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def summary_figure(summary: pd.DataFrame, terms: str = "rho", level: float = 0.95) -> Figure:
    """Bias, RMSE and coverage of the coefficients whose name starts with ``terms`` (all with ``"all"``):
    one panel per statistic, one row per design and coefficient, one colour per estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sub = summary if terms == "all" else summary.loc[summary["term"].str.startswith(terms)]
    if sub.empty:
        sub = summary
    labels = list(dict.fromkeys(f"{d} · {t}" for d, t in zip(sub["design"], sub["term"], strict=True)))
    estimators = list(dict.fromkeys(sub["estimator"]))
    y_of = {lab: i for i, lab in enumerate(labels)}
    fig, axes = plt.subplots(1, 3, figsize=(12, 1.2 + 0.35 * len(labels)), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    offsets = np.linspace(-0.25, 0.25, len(estimators)) if len(estimators) > 1 else [0.0]
    for ax, stat, ref in zip(axes, ["bias", "rmse", "coverage"], [0.0, None, level], strict=True):
        for j, est in enumerate(estimators):
            g = sub.loc[sub["estimator"] == est]
            ys = [y_of[f"{d} · {t}"] + offsets[j] for d, t in zip(g["design"], g["term"], strict=True)]
            ax.scatter(g[stat], ys, color=colors[j % len(colors)], label=est, s=22, zorder=3)
            if stat == "bias":
                ax.errorbar(g[stat], ys, xerr=1.96 * g["bias_mcse"], fmt="none", color=colors[j % len(colors)],
                            lw=0.8)
            if stat == "coverage":
                ax.errorbar(g[stat], ys, xerr=1.96 * g["coverage_mcse"], fmt="none",
                            color=colors[j % len(colors)], lw=0.8)
        if ref is not None:
            ax.axvline(ref, color="0.5", lw=0.8, ls="--")
        ax.set_title({"bias": "bias", "rmse": "RMSE", "coverage": f"coverage of {level:.0%} intervals"}[stat])
        ax.grid(axis="x", color="0.9")
    axes[0].set_yticks(range(len(labels)), labels)
    axes[0].invert_yaxis()
    handles, names = axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.12 if len(labels) < 6 else 0.06, 1, 1))
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 5), fontsize=8, frameon=False)
    return fig


# ----------------------------------------------------------------------------------------------- file outputs
CHUNK_FLOAT_FORMAT = "%.17g"  # every bit of every estimate: a chunk run anywhere must give the same file


def write_chunk(design_spec: Mapping[str, Any], estimators: Mapping[str, Mapping[str, Any]], chunk: int, *,
                replications: int, chunk_size: int, seed: int, level: float, path: str | Path) -> pd.DataFrame:
    """Run chunk ``chunk`` of one design (its config entry) and write its replication table to ``path``."""
    designs, _ = parse_study({"designs": [design_spec], "estimators": estimators}, source="montecarlo chunk")
    frame = run_chunk(designs[0], estimators, chunk_replications(chunk, replications, chunk_size), seed, level)
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format=CHUNK_FLOAT_FORMAT,
                                                lineterminator="\n"))
    return frame


def write_summary(chunk_paths: Sequence[str | Path], *, replications: int, level: float, figure_terms: str,
                  replications_path: str | Path, csv_path: str | Path, md_path: str | Path,
                  png_path: str | Path, pdf_path: str | Path) -> pd.DataFrame:
    """Gather the chunks (in the order given), write all replications, the summary (CSV, Markdown), the figure."""
    frames = [read_table(p) for p in chunk_paths]
    reps = pd.concat(frames, ignore_index=True)
    reps["error"] = reps["error"].fillna("").astype(str)
    atomic_write(replications_path, lambda tmp: reps.to_csv(tmp, index=False, float_format=CHUNK_FLOAT_FORMAT,
                                                            lineterminator="\n"))
    summary = summarise(reps)
    write_table(summary, csv_path)
    write_text(summary_markdown(summary, replications, level), md_path)
    fig = summary_figure(summary, terms=figure_terms, level=level)
    atomic_write(png_path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None},
                                                   bbox_inches="tight", dpi=150))
    atomic_write(pdf_path, lambda tmp: fig.savefig(
        tmp, format="pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None}, bbox_inches="tight"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return summary
