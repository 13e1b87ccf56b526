"""Snakemake rule `moran`: Moran's I of the outcome per year on one channel's graphs."""

from interdep.io import read_table, write_table
from interdep.panel.build import states_by_year
from interdep.weights.graphs import graphs_from_edge_list
from interdep.weights.moran import moran_by_year
from interdep.workflow import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    panel = read_table(snakemake.input.panel)
    graphs = graphs_from_edge_list(read_table(snakemake.input.edges), states_by_year(panel))
    table = moran_by_year(panel, graphs, p.outcome, permutations=p.permutations, seed=p.seed)
    write_table(table, snakemake.output[0])
