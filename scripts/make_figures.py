"""Snakemake rule `figures`: maps, Moran plots, channel links, coefficients, impacts (and demo truth)."""

import json
from pathlib import Path

from interdep.io import read_table
from interdep.outputs.figures import draw_figures
from interdep.outputs.tables import read_labels, truth_table
from interdep.panel.build import states_by_year
from interdep.weights.channels import link_coordinates
from interdep.weights.graphs import graphs_from_edge_list
from interdep.workflow import logged

with logged(snakemake.log[0]):
    p = snakemake.params
    panel = read_table(snakemake.input.panel)
    year = p.map_year if p.map_year is not None else int(panel["year"].max())
    ids = states_by_year(panel)
    graphs = {c: graphs_from_edge_list(read_table(f), ids) for c, f in zip(p.channels, snakemake.input.edges,
                                                                            strict=True)}
    coefficients = {m: read_table(f) for m, f in zip(p.models, snakemake.input.coefficients, strict=True)}
    labels = read_labels(snakemake.input.codebook)
    impacts = read_table(snakemake.input.impacts)
    truth = None
    if snakemake.input.truth:
        truth = truth_table(json.loads(Path(snakemake.input.truth[0]).read_text()), coefficients[p.truth_model])
    draw_figures(
        figures=p.figures,
        panel=panel,
        moran_tables={c: read_table(f) for c, f in zip(p.channels, snakemake.input.moran, strict=True)},
        graphs=graphs,
        coefficients=coefficients,
        impacts=impacts,
        profiles={m: prof for m, f in zip(p.models, snakemake.input.profiles, strict=True)
                  if len(prof := read_table(f))},
        links={c: link_coordinates(g[year], year, snakemake.input.capitals) for c, g in graphs.items()},
        outcome=p.outcome,
        map_year=year,
        labels=labels,
        out_dir=Path(snakemake.output[0]).parent,
        dataset=p.dataset,
        truth_table=truth,
        truth_model=p.truth_model,
        model_labels=p.model_labels,
    )
