"""Snakemake rule `figures`: map, Moran scatter, Moran's I by year, coefficients (and demo truth) plots."""

import json
from pathlib import Path

from interdep.io import read_table
from interdep.outputs.figures import draw_figures
from interdep.outputs.tables import truth_table
from interdep.panel.build import states_by_year
from interdep.weights.graphs import graphs_from_edge_list
from interdep.workflow import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    panel = read_table(snakemake.input.panel)
    year = p.map_year if p.map_year is not None else int(panel["year"].max())
    graphs = graphs_from_edge_list(read_table(snakemake.input.moran_edges), states_by_year(panel))
    coefficients = {m: read_table(f) for m, f in zip(p.models, snakemake.input.coefficients, strict=True)}
    truth = None
    if snakemake.input.truth:
        truth = truth_table(json.loads(Path(snakemake.input.truth[0]).read_text()), coefficients[p.truth_model])
    draw_figures(
        figures=p.figures,
        panel=panel,
        moran_tables={c: read_table(f) for c, f in zip(p.channels, snakemake.input.moran, strict=True)},
        moran_graph=graphs[year],
        moran_channel=p.moran_channel,
        coefficients=coefficients,
        outcome=p.outcome,
        map_year=year,
        out_dir=Path(snakemake.output[0]).parent,
        dataset=p.dataset,
        truth_table=truth,
        truth_model=p.truth_model,
    )
