"""Snakemake rule `weights`: one graph per year for one channel -> <channel>.csv + <channel>_summary.csv."""

from pathlib import Path

from interdep.io import read_table, write_table
from interdep.panel.build import states_by_year
from interdep.weights.channels import build_channel, channel_plan
from interdep.weights.graphs import check_islands, graphs_to_edge_list, summarise_graphs
from interdep.workflow import logged

with logged(snakemake.log[0]) as log:
    p = snakemake.params
    channel = snakemake.wildcards.channel
    ids_by_year = states_by_year(read_table(snakemake.input.panel))
    source = Path(snakemake.input.source).resolve()
    spec = {**p.spec, "name": channel, "file": str(source)}
    graphs = build_channel(spec, ids_by_year, source.parent)
    plan = channel_plan(spec, sorted(ids_by_year), source.parent)
    if plan["carried"].any():
        log.warning("%s: years %s use the source's links of %d (carry_forward)", channel,
                    plan.loc[plan["carried"], "year"].tolist(), int(plan["source_year"].max()))
    island_report = check_islands(graphs, channel, p.spec.get("islands", "keep"))
    log.info("%s islands by year:\n%s", channel, island_report.to_string())
    write_table(summarise_graphs(graphs).merge(plan, on="year", validate="one_to_one"), snakemake.output.summary)
    write_table(graphs_to_edge_list(graphs), snakemake.output.edges)
