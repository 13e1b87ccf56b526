"""Figures at paper size (PNG and PDF, byte-identical on a rerun: no timestamps or versions in the files).

Colour-blind-safe palettes (viridis for maps, Okabe-Ito for categories); every figure has a title and units.
"""

from __future__ import annotations

import textwrap
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
MARKERS = ["o", "s", "^", "D", "v", "P"]
LINESTYLES = ["-", "--", "-.", ":"]
MAP_EXTENT = ((-180.0, 180.0), (-57.0, 84.0))  # the world without Antarctica, in degrees


def styles(n: int) -> list[tuple[str, str, str]]:
    """``n`` distinct (colour, marker, line style) triples: the 8 Okabe-Ito colours, then again with the next
    marker and line style, so that no two series look alike however many there are."""
    return [(OKABE_ITO[k % len(OKABE_ITO)], MARKERS[(k // len(OKABE_ITO)) % len(MARKERS)],
             LINESTYLES[(k // len(OKABE_ITO)) % len(LINESTYLES)]) for k in range(n)]


def _footnote(ax: plt.Axes, text: str, below_points: float = 4.0, centre: bool = False, width: int = 150) -> None:
    """A small note under ``ax`` (attached to the axes, so the saved figure has no blank band)."""
    text = "\n".join(textwrap.wrap(text, width))
    ax.annotate(text, xy=(0.5 if centre else 0.0, 0.0), xycoords="axes fraction", xytext=(0, -below_points),
                textcoords="offset points", fontsize=6, va="top", ha="center" if centre else "left", color="#444444",
                annotation_clip=False)


def _world_axes(height: float = 3.0) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    ax.set_xlim(*MAP_EXTENT[0])
    ax.set_ylim(*MAP_EXTENT[1])
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig, ax


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
    """World map of personnel contributed in ``year``; the colour scale is log(1 + persons) from 0, labelled in
    persons; states with none in light grey, states not in the panel hatched."""
    world = _world()
    data = panel.loc[panel["year"] == year, ["iso3", "contrib_total"]]
    merged = world.merge(data, on="iso3", how="left")
    fig, ax = _world_axes(3.4)
    merged[merged["contrib_total"].isna()].plot(ax=ax, color="white", edgecolor="#999999", linewidth=0.2,
                                                hatch="///")
    merged[merged["contrib_total"] == 0].plot(ax=ax, color="#dddddd", edgecolor="#999999", linewidth=0.2)
    positive = merged[merged["contrib_total"] > 0].copy()
    positive["log1p"] = np.log10(1 + positive["contrib_total"])
    top = max(float(positive["log1p"].max()) if len(positive) else 1.0, 1.0)
    positive.plot(ax=ax, column="log1p", cmap="viridis", vmin=0.0, vmax=top, edgecolor="#666666", linewidth=0.2)
    persons = [0] + [10 ** k for k in range(0, int(np.floor(top)) + 1) if np.log10(1 + 10 ** k) <= top]
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0.0, top), cmap="viridis"), ax=ax,
                       **COLORBAR)
    bar.set_ticks([np.log10(1 + x) for x in persons], labels=[f"{x:,}" for x in persons])
    bar.set_label("personnel contributed, persons (yearly mean; log scale from 0)")
    simulated = " (simulated demo outcome)" if dataset == "demo" else ""
    ax.set_title(f"Contributions to UN peacekeeping, {year}{simulated}")
    _footnote(bar.ax, f"Grey: none; hatched: not in the panel. Borders: {ATTRIBUTION}.", below_points=28,
              centre=True)
    save(fig, png_path)


def map_change(panel: pd.DataFrame, first: int, last: int, png_path: str | Path, dataset: str = "") -> None:
    """World map of the change in log(1 + personnel) between two years (diverging, centred on zero)."""
    world = _world()
    wide = panel[panel["year"].isin([first, last])].pivot_table(index="iso3", columns="year", values="contrib_total")
    change = (np.log1p(wide[last]) - np.log1p(wide[first])).rename("change").reset_index()
    merged = world.merge(change, on="iso3", how="left")
    fig, ax = _world_axes(3.4)
    merged[merged["change"].isna()].plot(ax=ax, color="white", edgecolor="#999999", linewidth=0.2, hatch="///")
    limit = float(np.nanmax(np.abs(merged["change"]))) or 1.0
    merged[merged["change"].notna()].plot(ax=ax, column="change", cmap="PuOr", vmin=-limit, vmax=limit,
                                          edgecolor="#666666", linewidth=0.2)
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=matplotlib.colors.Normalize(-limit, limit), cmap="PuOr"), ax=ax,
                       **COLORBAR)
    bar.set_label(f"change in log(1 + personnel), {first} to {last}")
    simulated = " (simulated demo outcome)" if dataset == "demo" else ""
    ax.set_title(f"Change in contributions, {first} to {last}{simulated}")
    _footnote(bar.ax, f"Hatched: not in the panel in both years. Borders: {ATTRIBUTION}.", below_points=28,
              centre=True)
    save(fig, png_path)


def dateline_segments(lng: np.ndarray, lat: np.ndarray, lng2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    """Line segments between two points each, the short way round the globe: a link that crosses the dateline
    (longitudes more than 180 degrees apart) becomes two segments, each leaving the map at its edge.

    Returns an array of shape (k, 2, 2) of ((lng, lat), (lng, lat)) pairs in map coordinates (-180..180 plus the
    part outside the map that the axes clip).
    """
    lng, lat, lng2, lat2 = (np.asarray(a, dtype=float) for a in (lng, lat, lng2, lat2))
    delta = lng2 - lng
    wraps = np.abs(delta) > 180
    shift = np.where(delta > 180, -360.0, np.where(delta < -180, 360.0, 0.0))
    direct = np.stack([np.column_stack([lng, lat]), np.column_stack([lng2 + shift, lat2])], axis=1)
    mirrored = np.stack([np.column_stack([lng - shift, lat]), np.column_stack([lng2, lat2])], axis=1)[wraps]
    return np.concatenate([direct, mirrored])


def channel_links(links: pd.DataFrame, channel: str, year: int, png_path: str | Path,
                  n_pairs: int | None = None) -> None:
    """One channel's links in one year drawn between capitals (darker = larger weight), the short way round.

    ``n_pairs`` is the number of linked pairs in the graph; pairs without capital coordinates are counted in the
    footnote, not drawn."""
    fig, ax = _world_axes(3.0)
    _world().plot(ax=ax, color="#f2f2f2", edgecolor="#bbbbbb", linewidth=0.2)
    if len(links):
        ends = np.sort(links[["ccode", "neighbor"]].to_numpy(), axis=1)
        pairs = links[~pd.DataFrame(ends).duplicated().to_numpy()]
    else:
        pairs = links
    drawn = len(pairs)
    if len(pairs):
        w = pairs["weight"].to_numpy(dtype=float)
        segments = dateline_segments(pairs["lng"], pairs["lat"], pairs["lng_neighbor"], pairs["lat_neighbor"])
        wraps = np.abs(pairs["lng_neighbor"].to_numpy(float) - pairs["lng"].to_numpy(float)) > 180
        w = np.concatenate([w, w[wraps]])
        alpha = 0.15 + 0.6 * (w - w.min()) / (np.ptp(w) or 1.0)
        colours = np.tile(matplotlib.colors.to_rgba(OKABE_ITO[0]), (len(segments), 1))
        colours[:, 3] = alpha
        ax.add_collection(matplotlib.collections.LineCollection(segments, colors=colours, linewidths=0.5))
        ends = pd.concat([links[["lng", "lat"]], links[["lng_neighbor", "lat_neighbor"]].set_axis(["lng", "lat"],
                                                                                                  axis=1)])
        ax.scatter(ends["lng"], ends["lat"], s=3, color=OKABE_ITO[5], zorder=3)
    total = drawn if n_pairs is None else n_pairs
    ax.set_title(f"Channel {channel}, {year}: {total:,} linked pairs")
    missing = "" if total == drawn else f" {total - drawn} pair(s) not drawn: a capital without coordinates."
    _footnote(ax, f"Lines join the capitals of linked states.{missing} Borders: {ATTRIBUTION}.")
    save(fig, png_path)


def impacts_plot(impacts: pd.DataFrame, png_path: str | Path, model_labels: Mapping[str, str] | None = None) -> None:
    """Direct, indirect and total impacts with 95% intervals: one small panel per model with spillovers (all
    channels together), regressors on a shared axis; models without spatial terms are left out."""
    model_labels = model_labels or {}
    pooled = impacts.groupby("model_id")["channel"].transform(lambda c: (c == "all").any())
    data = impacts[impacts["effect"].isin(["direct", "indirect", "total"]) & (~pooled | (impacts["channel"] == "all"))]
    models = [m for m, part in data.groupby("model_id", sort=False)
              if ((part["effect"] == "indirect") & (part["estimate"].abs() > 0)).any()]
    # a fit at the edge of rho's interval has point impacts outside their own simulated intervals: not drawn, named
    outside = [m for m in models if not data[data["model_id"] == m]["estimate"]
               .between(data[data["model_id"] == m]["conf_low"], data[data["model_id"] == m]["conf_high"]).all()]
    models = [m for m in models if m not in outside]
    variables = list(dict.fromkeys(data.loc[data["model_id"].isin(models), "label"]))
    ncols = min(3, max(len(models), 1))
    nrows = max(int(np.ceil(len(models) / ncols)), 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, (0.22 * len(variables) + 0.75) * nrows + 0.4),
                             sharey=True, squeeze=False)
    effects = list(zip(["direct", "indirect", "total"], OKABE_ITO, MARKERS, strict=False))
    for ax, model_id in zip(axes.flat, models, strict=False):
        part = data[data["model_id"] == model_id]
        for k, (effect, colour, marker) in enumerate(effects):
            d = part[part["effect"] == effect]
            pos = np.array([variables.index(v) for v in d["label"]]) + (k - 1) * 0.25
            ax.errorbar(d["estimate"], pos, xerr=[d["estimate"] - d["conf_low"], d["conf_high"] - d["estimate"]],
                        fmt=marker, markersize=3, color=colour, label=effect, linewidth=1)
        ax.axvline(0, color="#999999", linewidth=0.5)
        ax.set_title("\n".join(textwrap.wrap(model_labels.get(model_id, model_id), 26)), fontsize=7)  # no overlap
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(models):]:
        ax.set_axis_off()
    if not models:
        axes[0, 0].text(0.5, 0.5, "No model in this run has spatial spillovers.", ha="center", va="center")
    axes[0, 0].set_yticks(range(len(variables)), variables)
    axes[0, 0].invert_yaxis()
    for ax in axes[:, 0]:
        ax.tick_params(axis="y", labelsize=7)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=3, frameon=False, fontsize=7, bbox_to_anchor=(0.5, 1.0))
    fig.suptitle("Direct, indirect and total impacts, 95% intervals (simulated draws)",
                 y=1 + 0.3 / fig.get_figheight())  # 0.3 in above the legend, whatever the number of panels
    fig.supxlabel("impact on the outcome (outcome units per unit of the regressor)", fontsize=7)
    fig.tight_layout()
    if outside:
        fig.text(0.01, -0.02, "Not drawn (point impact outside its interval: rho at the edge of its admissible "
                 f"interval, see the model's fit.json): {', '.join(model_labels.get(m, m) for m in outside)}.",
                 fontsize=6, ha="left", va="top", wrap=True)
    save(fig, png_path)


def moran_scatter(panel: pd.DataFrame, graph, outcome: str, year: int, channel: str, png_path: str | Path,
                  moran_i: float | None = None, outcome_label: str | None = None) -> None:
    """Standardised outcome against its spatial lag on one channel in one year, islands left out, with the OLS
    line (intercept and slope). The slope equals Moran's I only for a row-standardised W without islands, so
    Moran's I (``moran_i``, from the moran rule: all states, islands included) is printed beside it."""
    rows = panel[panel["year"] == year].set_index("ccode").loc[list(graph.unique_ids)]
    z = rows[outcome].to_numpy(dtype=float)
    keep = np.isfinite(z)
    z = (z - z[keep].mean()) / z[keep].std()
    z[~keep] = 0.0
    w = graph.sparse
    lag = w @ z
    isolated = np.asarray(w.sum(axis=1)).ravel() == 0
    use = keep & ~isolated
    slope, intercept = (float(v) for v in np.polyfit(z[use], lag[use], 1))
    fig, ax = plt.subplots(figsize=(WIDTH / 2 + 0.5, 3.2))
    ax.scatter(z[use], lag[use], s=10, alpha=0.7, color=OKABE_ITO[0], edgecolor="none")
    grid = np.linspace(z[use].min(), z[use].max(), 2)
    moran = "" if moran_i is None or not np.isfinite(moran_i) else f", Moran's I = {moran_i:.3f}"
    ax.plot(grid, intercept + slope * grid, color=OKABE_ITO[5], linewidth=1.2)
    ax.axhline(0, color="#999999", linewidth=0.5)
    ax.axvline(0, color="#999999", linewidth=0.5)
    ax.set_xlabel(f"{outcome_label or outcome} (standardised)")
    ax.set_ylabel(f"spatial lag on {channel}")
    ax.set_title(f"Moran scatter, {channel}, {year}\nOLS line: slope = {slope:.3f}{moran}\n"
                 f"{int(use.sum())} states; {int(isolated.sum())} islands left out", fontsize=8)
    save(fig, png_path)


def moran_by_year(tables: Mapping[str, pd.DataFrame], outcome: str, png_path: str | Path) -> None:
    """Moran's I of the outcome by year, one line per channel; filled markers where p_sim < 0.05."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.0))
    for (channel, t), (colour, _, style) in zip(tables.items(), styles(len(tables)), strict=True):
        ax.plot(t["year"], t["moran_i"], color=colour, label=channel, linewidth=1.2, linestyle=style)
        significant = t["p_sim"] < 0.05
        ax.scatter(t.loc[significant, "year"], t.loc[significant, "moran_i"], color=colour, s=14, zorder=3)
        ax.scatter(t.loc[~significant, "year"], t.loc[~significant, "moran_i"], facecolor="white",
                   edgecolor=colour, s=14, zorder=3)
    ax.axhline(0, color="#999999", linewidth=0.5)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("year")
    ax.set_ylabel("Moran's I")
    ax.set_title(f"Spatial autocorrelation of {outcome} by channel (filled: permutation p < 0.05)")
    ax.legend(frameon=False, fontsize=7, ncol=min(len(tables), 4), loc="upper center", bbox_to_anchor=(0.5, -0.18))
    save(fig, png_path)


def coefficient_plot(coefficients: Mapping[str, pd.DataFrame], png_path: str | Path,
                     labels: Mapping[str, str] | None = None, model_labels: Mapping[str, str] | None = None) -> None:
    """Estimates and 95% intervals across models: one small panel per term (its own scale), a row per model
    (every model drawn, each in its own colour and marker). Terms estimated by one model only (W-lags, time
    lags, a channel used once) are left to the tables when some term is shared; constants are left out."""
    from interdep.outputs.tables import term_label

    labels, model_labels = labels or {}, model_labels or {}
    models = list(coefficients)
    counts: dict[str, int] = {}
    for c in coefficients.values():
        for t in c["term"]:
            if t != "const":
                counts[t] = counts.get(t, 0) + 1
    shared = [t for t, k in counts.items() if k > 1]
    terms = shared or list(counts)
    ncols = min(3, max(len(terms), 1))
    nrows = max(int(np.ceil(len(terms) / ncols)), 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, nrows * (0.11 * len(models) + 0.65) + 0.3),
                             sharey=True, squeeze=False)
    look = dict(zip(models, styles(len(models)), strict=True))
    for ax, term in zip(axes.flat, terms, strict=False):
        for k, model_id in enumerate(models):
            c = coefficients[model_id].set_index("term")
            if term not in c.index:
                continue
            r = c.loc[term]
            colour, marker, _ = look[model_id]
            ax.errorbar([r["estimate"]], [k], xerr=[[r["estimate"] - r["conf_low"]], [r["conf_high"] - r["estimate"]]],
                        fmt=marker, markersize=3, color=colour, linewidth=1)
        ax.axvline(0, color="#999999", linewidth=0.5)
        ax.set_title(term_label(term, labels), fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(terms):]:
        ax.set_axis_off()
    axes[0, 0].set_yticks(range(len(models)), [model_labels.get(m, m) for m in models])
    axes[0, 0].set_ylim(len(models) - 0.5, -0.5)
    left_out = sorted(set(counts) - set(terms))
    fig.suptitle("Coefficients across models, with 95% intervals", fontsize=9)
    fig.tight_layout()
    if left_out:
        _footnote(axes[-1, 0], "Terms of one model only (in the tables): "
                  + "; ".join(term_label(t, labels) for t in left_out) + ".", below_points=18, width=95)
    save(fig, png_path)


def profile_plot(profiles: Mapping[str, pd.DataFrame], png_path: str | Path,
                 model_labels: Mapping[str, str] | None = None) -> None:
    """Log-likelihood along rho, relative to its maximum, for every spatial ML model and channel.

    One channel: the profile likelihood. Several: a slice, the other rho's held at their estimates (drawn thin,
    with markers). Every curve has its own colour/line style; the legend sits below the plot. The dotted line at
    -1.92 marks the 95% likelihood-ratio interval of a profile.
    """
    model_labels = model_labels or {}
    curves = [(m, channel, len(set(prof["channel"])) > 1) for m, prof in profiles.items()
              for channel in dict.fromkeys(prof["channel"])]
    fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
    for (model_id, channel, is_slice), (colour, marker, style) in zip(curves, styles(len(curves)), strict=True):
        part = profiles[model_id][profiles[model_id]["channel"] == channel]
        ll = part["log_likelihood"].to_numpy(dtype=float)
        ax.plot(part["rho"], ll - np.nanmax(ll), color=colour, linewidth=0.8 if is_slice else 1.3, linestyle=style,
                marker=marker if is_slice else None, markevery=max(len(part) // 8, 1), markersize=3,
                label=f"{model_labels.get(model_id, model_id)}: {channel}" + (" (slice)" if is_slice else ""))
    ax.axhline(-1.92, color="#999999", linewidth=0.6, linestyle=":")
    ax.set_ylim(-12, 0.5)
    ax.set_xlabel("ρ")
    ax.set_ylabel("log-likelihood minus its maximum")
    ax.set_title("Log-likelihood along ρ (dotted: the 95% likelihood-ratio cut-off)")
    ax.legend(frameon=False, fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    save(fig, png_path)


def truth_plot(table: pd.DataFrame, model_id: str, png_path: str | Path,
               labels: Mapping[str, str] | None = None) -> None:
    """Estimates with 95% intervals beside the true values of the simulated demo."""
    from interdep.outputs.tables import term_label

    fig, ax = plt.subplots(figsize=(WIDTH / 2 + 0.8, 0.45 * len(table) + 1.0))
    pos = np.arange(len(table))
    ax.errorbar(table["estimate"], pos, xerr=[table["estimate"] - table["conf_low"],
                                              table["conf_high"] - table["estimate"]],
                fmt="o", color=OKABE_ITO[0], markersize=4, label="estimate, 95% interval")
    ax.scatter(table["truth"], pos, marker="x", color=OKABE_ITO[5], s=40, zorder=3, label="true value")
    ax.set_yticks(pos, [term_label(t, labels or {}) for t in table["term"]])
    ax.invert_yaxis()
    ax.set_title(f"Demo: {model_id} against the truth")
    ax.legend(frameon=False, fontsize=7)
    save(fig, png_path)


def _grouped_bars(ax, values: pd.DataFrame, types: Sequence[str], rows: Sequence[str], title: str,
                  xlabel: str, legend: bool = True) -> None:
    """Horizontal bars of ``values`` (index: model type, columns: ``rows``), one colour per model type."""
    height = 0.8 / len(types)
    for j, mt in enumerate(types):
        ax.barh(np.arange(len(rows)) + j * height, values.loc[mt].reindex(rows).to_numpy(dtype=float),
                height=height, color=OKABE_ITO[j % len(OKABE_ITO)], label=mt.upper())
    ax.set_yticks(np.arange(len(rows)) + 0.4 - height / 2, rows)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(frameon=False, fontsize=7)


def channel_choice_plot(table: pd.DataFrame, png_path: str | Path,
                        gamma_draws: Mapping[str, pd.DataFrame] | None = None,
                        averaged: pd.DataFrame | None = None, model_labels: Mapping[str, str] | None = None) -> None:
    """Posterior probability of every channel-choice candidate (grouped by model type); beside it, when
    ``averaged`` (tables/channel_bma) has subsets of several channels, each channel's posterior inclusion
    probability; then the posterior densities of the ``gamma_<channel>`` shares of each ``sar_conv`` / ``sdm_conv``
    model (``gamma_draws``: model id -> its draws.parquet; titled by ``model_labels``, the config's ``label:``)."""
    model_labels = model_labels or {}
    gamma_draws = {m: d for m, d in (gamma_draws or {}).items() if any(c.startswith("gamma_") for c in d.columns)}
    types = list(dict.fromkeys(table["model_type"]))
    channels = list(dict.fromkeys(table["channels"]))
    inclusion = None
    if averaged is not None and table["channels"].str.contains("+", regex=False).any():
        inc = averaged[averaged["quantity"] == "inclusion"]
        inclusion = inc.pivot(index="model_type", columns="channel", values="estimate")
    height_in = 0.35 * len(channels) * len(types) + 1.2
    ncols = 1 + (inclusion is not None) + len(gamma_draws)
    fig, axes = plt.subplots(1, ncols, figsize=(WIDTH / 2 + 1.2 + 2.6 * (ncols - 1), height_in), squeeze=False,
                             layout="constrained")  # room for each panel's tick labels and titles
    probs = table.pivot(index="model_type", columns="channels", values="probability")
    _grouped_bars(axes[0, 0], probs, types, channels, "Posterior model probabilities", "posterior probability")
    if inclusion is not None:
        _grouped_bars(axes[0, 1], inclusion, [t for t in types if t in inclusion.index],
                      list(dict.fromkeys(inc["channel"])), "Posterior inclusion probability",
                      "probability of the subsets with the channel", legend=False)
    for ax, (model_id, draws) in zip(axes[0, 1 + (inclusion is not None):], gamma_draws.items(), strict=True):
        for k, col in enumerate(c for c in draws.columns if c.startswith("gamma_")):
            ax.hist(draws[col], bins=np.linspace(0, 1, 51), density=True, histtype="step", linewidth=1.2,
                    color=OKABE_ITO[k % len(OKABE_ITO)], label=col.removeprefix("gamma_"))
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the spatial lag (gamma)")
        name = model_labels.get(model_id, model_id.replace("_", " "))
        ax.set_title("\n".join(textwrap.wrap(f"{name}: posterior of each channel's share", 34)), fontsize=8)
        ax.legend(frameon=False, fontsize=7)
    save(fig, png_path)


def draw_figures(*, figures: Sequence[str], panel: pd.DataFrame, moran_tables: Mapping[str, pd.DataFrame],
                 graphs: Mapping[str, Mapping[int, object]], coefficients: Mapping[str, pd.DataFrame],
                 impacts: pd.DataFrame, links: Mapping[str, pd.DataFrame], profiles: Mapping[str, pd.DataFrame],
                 outcome: str, map_year: int, labels: Mapping[str, str] | None = None,
                 out_dir: str | Path, dataset: str = "", truth_table: pd.DataFrame | None = None,
                 truth_model: str | None = None, model_labels: Mapping[str, str] | None = None) -> None:
    """Draw every figure named in ``figures`` into ``out_dir`` (PNG + PDF).

    Per-channel figures are named ``moran_scatter_<channel>`` and ``links_<channel>``. ``model_labels`` (model id
    -> the config's ``label:``) names the models in legends and panel titles.
    """
    out_dir = Path(out_dir)
    labels, model_labels = labels or {}, model_labels or {}
    first = int(panel["year"].min())
    outcome_label = labels.get(outcome, outcome)
    drawers = {
        "map_contributions": lambda p: map_contributions(panel, map_year, p, dataset),
        "map_change": lambda p: map_change(panel, first, map_year, p, dataset),
        "moran_by_year": lambda p: moran_by_year(moran_tables, outcome_label, p),
        "coefficients": lambda p: coefficient_plot(coefficients, p, labels, model_labels),
        "impacts": lambda p: impacts_plot(impacts, p, model_labels),
        "profile_loglik": lambda p: profile_plot(profiles, p, model_labels),
        "truth": lambda p: truth_plot(truth_table, model_labels.get(truth_model, truth_model), p, labels),
    }
    for channel, by_year in graphs.items():
        moran = moran_tables.get(channel)
        i_year = moran.loc[moran["year"] == map_year, "moran_i"] if moran is not None else pd.Series(dtype=float)
        moran_i = float(i_year.iloc[0]) if len(i_year) else None
        drawers[f"moran_scatter_{channel}"] = (
            lambda p, c=channel, g=by_year, i=moran_i:
            moran_scatter(panel, g[map_year], outcome, map_year, c, p, moran_i=i, outcome_label=outcome_label))
        drawers[f"links_{channel}"] = (lambda p, c=channel, g=by_year: channel_links(
            links[c], c, map_year, p, n_pairs=linked_pairs(g[map_year])))
    for name in figures:
        drawers[name](out_dir / f"{name}.png")


def linked_pairs(graph) -> int:
    """Number of unordered pairs of distinct states linked in either direction."""
    adj = graph.adjacency.reset_index()
    adj = adj[(adj.iloc[:, 0] != adj.iloc[:, 1]) & (adj.iloc[:, 2] != 0)]
    ends = np.sort(adj.iloc[:, :2].to_numpy(), axis=1)
    return int(len(pd.DataFrame(ends).drop_duplicates()))
