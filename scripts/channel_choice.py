"""Snakemake rule `channel_choice`: log-marginal likelihoods and posterior probabilities of candidate channels, and
the estimates averaged over them."""

from pathlib import Path

import pandas as pd

from interdep.io import read_table
from interdep.models.bayes.averaging import average_channels
from interdep.models.bayes.marginal import choose_channels
from interdep.outputs.figures import channel_choice_plot
from interdep.outputs.tables import write_channel_bma, write_channel_choice
from interdep.panel.build import states_by_year
from interdep.weights.graphs import graphs_from_edge_list
from interdep.workflow import logged

with logged(snakemake.log[0]) as log:
    spec = snakemake.params.spec
    panel = read_table(snakemake.input.panel)
    ids_by_year = states_by_year(panel)
    graphs = {channel: graphs_from_edge_list(read_table(path), ids_by_year)
              for channel, path in zip(spec["channels"], snakemake.input.weights, strict=True)}
    choice = choose_channels(spec, panel, graphs, seed=snakemake.params.seed)
    table = choice.table
    log.info("%s", table.to_string())
    bma = average_channels(choice, seed=snakemake.params.seed)
    log.info("%s", bma.to_string())
    out = [Path(f) for f in snakemake.output]
    write_channel_choice(table, out[0].parent)
    write_channel_bma(bma, out[0].parent)
    draws = {m: pd.read_parquet(f) for m, f in zip(snakemake.params.conv_models, snakemake.input.conv_draws,
                                                   strict=True)}
    labels = {m["id"]: m["label"] for m in snakemake.config.get("models", []) if m.get("label")}
    channel_choice_plot(table, next(f for f in out if f.suffix == ".png"), draws, bma, labels)
