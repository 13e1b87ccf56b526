"""Figures at paper size (PNG and PDF, byte-identical on a rerun: no timestamps or versions in the files).

Colour-blind-safe palettes (viridis for maps, Okabe-Ito for categories); every figure has a title and units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.collections
import matplotlib.colors
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from interdep.geography import ATTRIBUTION, natural_earth_countries  # noqa: E402
from interdep.io import atomic_write  # noqa: E402

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
WIDTH = 6.5  # inches: a journal text width
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "figure.dpi": 150, "savefig.dpi": 150,
                     "axes.prop_cycle": plt.cycler(color=OKABE_ITO), "svg.hashsalt": "interdep"})


COLORBAR = {"orientation": "horizontal", "shrink": 0.5, "pad": 0.02, "aspect": 40}


def _footnote(fig: plt.Figure, text: str) -> None:
    fig.text(0.01, 0.0, text, fontsize=6, va="bottom", ha="left", color="#444444")


def _world():
    """Country polygons for maps, Antarctica left out."""
    world = natural_earth_countries()
    return world[world["continent"] != "Antarctica"]


def save(fig: plt.Figure, png_path: str | Path) -> None:
    """Write ``png_path`` and the PDF beside it, without metadata that changes between runs."""
    png_path = Path(png_path)
    atomic_write(png_path, lambda tmp: fig.savefig(tmp, format="png", metadata={"Software": None},
                                                    bbox_inches="tight"))
    atomic_write(png_path.with_suffix(".pdf"), lambda tmp: fig.savefig(
        tmp, format="pdf", metadata={"Creator": None, "Producer": None, "CreationDate": None}, bbox_inches="tight"))
    plt.close(fig)


def map_contributions(panel: pd.DataFrame, year: int, png_path: str | Path, dataset: str = "") -> None:
    """World map of personnel contributed in ``year`` (log scale); states with none in light grey."""
    world = _world()
    data = panel.loc[panel["year"] == year, ["iso3", "contrib_total"]]
    merged = world.merge(data, on="iso3", how="left")
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    merged[merged["contrib_total"].isna()].plot(ax=ax, color="white", edgecolor="#999999", linewidth=0.2,
                                                hatch="///")
    merged[merged["contrib_total"] == 0].plot(ax=ax, color="#dddddd", edgecolor="#999999", linewidth=0.2)
    positive = merged[merged["contrib_total"] > 0].copy()
    positive["log10"] = np.log10(positive["contrib_total"])
    positive.plot(ax=ax, column="log10", cmap="viridis", edgecolor="#666666", linewidth=0.2, legend=True,
                  legend_kwds={"label": "personnel contributed, log10 persons (yearly mean)", **COLORBAR})
    simulated = " (simulated demo outcome)" if dataset == "demo" else ""
    ax.set_title(f"Contributions to UN peacekeeping, {year}{simulated}")
    ax.set_axis_off()
    _footnote(fig, f"Grey: none; hatched: not in the panel. Borders: {ATTRIBUTION}.")
    save(fig, png_path)


def map_change(panel: pd.DataFrame, first: int, last: int, png_path: str | Path, dataset: str = "") -> None:
    """World map of the change in log(1 + personnel) between two years (diverging, centred on zero)."""
    world = _world()
    wide = panel[panel["year"].isin([first, last])].pivot_table(index="iso3", columns="year", values="contrib_total")
    change = (np.log1p(wide[last]) - np.log1p(wide[first])).rename("change").reset_index()
    merged = world.merge(change, on="iso3", how="left")
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    merged[merged["change"].isna()].plot(ax=ax, color="white", edgecolor="#999999", linewidth=0.2, hatch="///")
    limit = float(np.nanmax(np.abs(merged["change"]))) or 1.0
    merged[merged["change"].notna()].plot(ax=ax, column="change", cmap="PuOr", vmin=-limit, vmax=limit,
                                          edgecolor="#666666", linewidth=0.2, legend=True,
                                          legend_kwds={"label": "change in log(1 + personnel)", **COLORBAR})
    simulated = " (simulated demo outcome)" if dataset == "demo" else ""
    ax.set_title(f"Change in contributions, {first} to {last}{simulated}")
    ax.set_axis_off()
    _footnote(fig, f"Hatched: not in the panel in both years. Borders: {ATTRIBUTION}.")
    save(fig, png_path)


def channel_links(links: pd.DataFrame, channel: str, year: int, png_path: str | Path) -> None:
    """One channel's links in one year drawn between capitals (darker = larger weight)."""
    world = _world()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    world.plot(ax=ax, color="#f2f2f2", edgecolor="#bbbbbb", linewidth=0.2)
    if len(links):
        w = links["weight"].to_numpy(dtype=float)
        alpha = 0.08 + 0.5 * (w - w.min()) / (np.ptp(w) or 1.0)
        colours = np.tile(matplotlib.colors.to_rgba(OKABE_ITO[0]), (len(links), 1))
        colours[:, 3] = alpha
        segments = np.stack([links[["lng", "lat"]].to_numpy(float), links[["lng_neighbor", "lat_neighbor"]]
                             .to_numpy(float)], axis=1)
        ax.add_collection(matplotlib.collections.LineCollection(segments, colors=colours, linewidths=0.4))
        ax.scatter(links["lng"], links["lat"], s=3, color=OKABE_ITO[5], zorder=3)
    ax.set_title(f"Channel {channel}: {len(links) // 2 if len(links) else 0} linked pairs (approx.), {year}")
    ax.set_axis_off()
    _footnote(fig, f"Lines join capitals of linked states. Borders: {ATTRIBUTION}.")
    save(fig, png_path)


def impacts_plot(impacts: pd.DataFrame, png_path: str | Path) -> None:
    """Direct, indirect and total impacts with 95% intervals, per model and variable."""
    data = impacts[impacts["effect"].isin(["direct", "indirect", "total"])].copy()
    data["row"] = data["model_id"] + ": " + data["label"] + np.where(
        data["channel"].fillna("").astype(str).str.len() > 0, " (" + data["channel"].fillna("").astype(str) + ")", "")
    rows = list(dict.fromkeys(data["row"]))
    fig, ax = plt.subplots(figsize=(WIDTH, 0.3 * len(rows) + 1.2))
    for k, (effect, colour) in enumerate(zip(["direct", "indirect", "total"], OKABE_ITO, strict=False)):
        d = data[data["effect"] == effect]
        pos = np.array([rows.index(r) for r in d["row"]]) + (k - 1) * 0.25
        ax.errorbar(d["estimate"], pos, xerr=[d["estimate"] - d["conf_low"], d["conf_high"] - d["estimate"]],
                    fmt="o", markersize=3, color=colour, label=effect, linewidth=1)
    ax.axvline(0, color="#999999", linewidth=0.5)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("impact on the outcome, with 95% interval (simulated draws)")
    ax.set_title("Direct, indirect and total impacts")
    ax.legend(frameon=False, fontsize=7)
    save(fig, png_path)


def moran_scatter(panel: pd.DataFrame, graph, outcome: str, year: int, channel: str, png_path: str | Path) -> None:
    """Standardised outcome against its spatial lag on one channel in one year, with Moran's I as the slope."""
    rows = panel[panel["year"] == year].set_index("ccode").loc[list(graph.unique_ids)]
    z = rows[outcome].to_numpy(dtype=float)
    keep = np.isfinite(z)
    z = (z - z[keep].mean()) / z[keep].std()
    z[~keep] = 0.0
    w = graph.sparse
    lag = w @ z
    isolated = np.asarray(w.sum(axis=1)).ravel() == 0
    use = keep & ~isolated
    slope = float(np.polyfit(z[use], lag[use], 1)[0])
    fig, ax = plt.subplots(figsize=(WIDTH / 2 + 0.5, 3.2))
    ax.scatter(z[use], lag[use], s=10, alpha=0.7, color=OKABE_ITO[0], edgecolor="none")
    grid = np.linspace(z[use].min(), z[use].max(), 2)
    ax.plot(grid, slope * grid, color=OKABE_ITO[5], linewidth=1.2, label=f"slope = {slope:.3f}")
    ax.axhline(0, color="#999999", linewidth=0.5)
    ax.axvline(0, color="#999999", linewidth=0.5)
    ax.set_xlabel(f"{outcome} (standardised)")
    ax.set_ylabel(f"spatial lag on {channel}")
    ax.set_title(f"Moran scatter, {channel}, {year} ({int(isolated.sum())} islands left out)")
    ax.legend(frameon=False, loc="upper left")
    save(fig, png_path)


def moran_by_year(tables: Mapping[str, pd.DataFrame], outcome: str, png_path: str | Path) -> None:
    """Moran's I of the outcome by year, one line per channel; filled markers where p_sim < 0.05."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.0))
    for (channel, t), colour in zip(tables.items(), OKABE_ITO, strict=False):
        ax.plot(t["year"], t["moran_i"], color=colour, label=channel, linewidth=1.2)
        significant = t["p_sim"] < 0.05
        ax.scatter(t.loc[significant, "year"], t.loc[significant, "moran_i"], color=colour, s=14, zorder=3)
        ax.scatter(t.loc[~significant, "year"], t.loc[~significant, "moran_i"], facecolor="white",
                   edgecolor=colour, s=14, zorder=3)
    ax.axhline(0, color="#999999", linewidth=0.5)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("year")
    ax.set_ylabel("Moran's I")
    ax.set_title(f"Spatial autocorrelation of {outcome} by channel (filled: permutation p < 0.05)")
    ax.legend(frameon=False)
    save(fig, png_path)


def coefficient_plot(coefficients: Mapping[str, pd.DataFrame], png_path: str | Path,
                     labels: Mapping[str, str] | None = None) -> None:
    """Estimates and 95% intervals of every term across models (constants left out)."""
    labels = labels or {}
    terms: list[str] = []
    for c in coefficients.values():
        terms += [t for t in c["term"] if t != "const" and t not in terms]
    fig, ax = plt.subplots(figsize=(WIDTH, 0.35 * len(terms) + 1.2))
    height = 0.8 / max(len(coefficients), 1)
    for k, ((model_id, c), colour) in enumerate(zip(coefficients.items(), OKABE_ITO, strict=False)):
        c = c.set_index("term")
        present = [t for t in terms if t in c.index]
        pos = np.array([terms.index(t) for t in present]) + k * height - 0.4 + height / 2
        ax.errorbar(c.loc[present, "estimate"], pos, xerr=[c.loc[present, "estimate"] - c.loc[present, "conf_low"],
                                                           c.loc[present, "conf_high"] - c.loc[present, "estimate"]],
                    fmt="o", markersize=3, color=colour, label=model_id, linewidth=1)
    ax.axvline(0, color="#999999", linewidth=0.5)
    ax.set_yticks(range(len(terms)), [labels.get(t, t) for t in terms])
    ax.invert_yaxis()
    ax.set_xlabel("estimate with 95% interval")
    ax.set_title("Coefficients across models")
    ax.legend(frameon=False, fontsize=7, loc="best")
    save(fig, png_path)


def profile_plot(profiles: Mapping[str, pd.DataFrame], png_path: str | Path) -> None:
    """Log-likelihood along rho, relative to its maximum, for every spatial ML model and channel.

    One channel: the profile likelihood. Several: a slice, the other rho's held at their estimates (dashed).
    The dotted line at -1.92 marks the 95% likelihood-ratio interval of a profile.
    """
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    colours = iter(OKABE_ITO * 4)
    for model_id, prof in profiles.items():
        channels = list(dict.fromkeys(prof["channel"]))
        for channel in channels:
            part = prof[prof["channel"] == channel]
            ll = part["log_likelihood"].to_numpy(dtype=float)
            ax.plot(part["rho"], ll - np.nanmax(ll), color=next(colours), linewidth=1.2,
                    linestyle="--" if len(channels) > 1 else "-", label=f"{model_id}: {channel}")
    ax.axhline(-1.92, color="#999999", linewidth=0.6, linestyle=":")
    ax.set_ylim(-12, 0.5)
    ax.set_xlabel("rho")
    ax.set_ylabel("log-likelihood minus its maximum")
    ax.set_title("Log-likelihood along rho (dashed: slice with the other rho's at their estimates)")
    ax.legend(frameon=False, fontsize=6, ncol=2)
    save(fig, png_path)


def truth_plot(table: pd.DataFrame, model_id: str, png_path: str | Path) -> None:
    """Estimates with 95% intervals beside the true values of the simulated demo."""
    fig, ax = plt.subplots(figsize=(WIDTH / 2 + 0.8, 0.45 * len(table) + 1.0))
    pos = np.arange(len(table))
    ax.errorbar(table["estimate"], pos, xerr=[table["estimate"] - table["conf_low"],
                                              table["conf_high"] - table["estimate"]],
                fmt="o", color=OKABE_ITO[0], markersize=4, label="estimate, 95% interval")
    ax.scatter(table["truth"], pos, marker="x", color=OKABE_ITO[5], s=40, zorder=3, label="true value")
    ax.set_yticks(pos, table["term"])
    ax.invert_yaxis()
    ax.set_title(f"Demo: {model_id} against the truth")
    ax.legend(frameon=False, fontsize=7)
    save(fig, png_path)


def channel_choice_plot(table: pd.DataFrame, png_path: str | Path,
                        gamma_draws: Mapping[str, pd.DataFrame] | None = None) -> None:
    """Posterior probability of every channel-choice candidate (grouped by model type) and, beside it, the
    posterior densities of the ``gamma_<channel>`` shares of each ``sar_conv`` model (``gamma_draws``: model id ->
    its draws.parquet)."""
    gamma_draws = {m: d for m, d in (gamma_draws or {}).items() if any(c.startswith("gamma_") for c in d.columns)}
    types = list(dict.fromkeys(table["model_type"]))
    channels = list(dict.fromkeys(table["channels"]))
    height_in = 0.35 * len(channels) * len(types) + 1.2
    ncols = 1 + len(gamma_draws)
    fig, axes = plt.subplots(1, ncols, figsize=(WIDTH / 2 + 1.2 + 2.6 * (ncols - 1), height_in), squeeze=False)
    ax = axes[0, 0]
    height = 0.8 / len(types)
    for j, mt in enumerate(types):
        part = table[table["model_type"] == mt].set_index("channels").reindex(channels)
        ax.barh(np.arange(len(channels)) + j * height, part["probability"], height=height,
                color=OKABE_ITO[j % len(OKABE_ITO)], label=mt.upper())
    ax.set_yticks(np.arange(len(channels)) + 0.4 - height / 2, channels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("posterior probability")
    ax.set_title("Which channel? Posterior model probabilities")
    ax.legend(frameon=False, fontsize=7)
    for ax, (model_id, draws) in zip(axes[0, 1:], gamma_draws.items(), strict=True):
        for k, col in enumerate(c for c in draws.columns if c.startswith("gamma_")):
            ax.hist(draws[col], bins=np.linspace(0, 1, 51), density=True, histtype="step", linewidth=1.2,
                    color=OKABE_ITO[k % len(OKABE_ITO)], label=col.removeprefix("gamma_"))
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the spatial lag (gamma)")
        ax.set_title(f"{model_id}: gamma posteriors", fontsize=8)
        ax.legend(frameon=False, fontsize=7)
    save(fig, png_path)


def draw_figures(*, figures: Sequence[str], panel: pd.DataFrame, moran_tables: Mapping[str, pd.DataFrame],
                 graphs: Mapping[str, Mapping[int, object]], coefficients: Mapping[str, pd.DataFrame],
                 impacts: pd.DataFrame, links: Mapping[str, pd.DataFrame], profiles: Mapping[str, pd.DataFrame],
                 outcome: str, map_year: int, labels: Mapping[str, str] | None = None,
                 out_dir: str | Path, dataset: str = "", truth_table: pd.DataFrame | None = None,
                 truth_model: str | None = None) -> None:
    """Draw every figure named in ``figures`` into ``out_dir`` (PNG + PDF).

    Per-channel figures are named ``moran_scatter_<channel>`` and ``links_<channel>``.
    """
    out_dir = Path(out_dir)
    first = int(panel["year"].min())
    drawers = {
        "map_contributions": lambda p: map_contributions(panel, map_year, p, dataset),
        "map_change": lambda p: map_change(panel, first, map_year, p, dataset),
        "moran_by_year": lambda p: moran_by_year(moran_tables, outcome, p),
        "coefficients": lambda p: coefficient_plot(coefficients, p, labels),
        "impacts": lambda p: impacts_plot(impacts, p),
        "profile_loglik": lambda p: profile_plot(profiles, p),
        "truth": lambda p: truth_plot(truth_table, truth_model, p),
    }
    for channel, by_year in graphs.items():
        drawers[f"moran_scatter_{channel}"] = (
            lambda p, c=channel, g=by_year: moran_scatter(panel, g[map_year], outcome, map_year, c, p))
        drawers[f"links_{channel}"] = lambda p, c=channel: channel_links(links[c], c, map_year, p)
    for name in figures:
        drawers[name](out_dir / f"{name}.png")
