"""Snakemake rule `weights`: one graph per year for one channel -> <channel>.csv + <channel>_summary.csv."""

from pathlib import Path

from interdep.io import read_table, write_table
from interdep.panel.build import states_by_year
from interdep.weights.channels import build_channel
from interdep.weights.graphs import check_islands, graphs_to_edge_list, summarise_graphs
from interdep.workflow import logged

with logged(snakemake.log[0]) as log:
    p = snakemake.params
    channel = snakemake.wildcards.channel
    ids_by_year = states_by_year(read_table(snakemake.input.panel))
    source = Path(snakemake.input.source).resolve()
    graphs = build_channel({**p.spec, "name": channel, "file": str(source)}, ids_by_year, source.parent)
    island_report = check_islands(graphs, channel, p.spec.get("islands", "keep"))
    log.info("%s islands by year:\n%s", channel, island_report.to_string())
    write_table(summarise_graphs(graphs), snakemake.output.summary)
    write_table(graphs_to_edge_list(graphs), snakemake.output.edges)
