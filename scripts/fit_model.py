"""Snakemake rule `fit_model`: one model entry of the config -> coefficients, fit, impacts, sample."""

from interdep.io import read_table, write_json, write_table
from interdep.models.bayes.core import write_draws
from interdep.models.fit import fit_model
from interdep.panel.build import states_by_year
from interdep.panel.coverage import carried_years, check_models, coverage_table
from interdep.weights.graphs import graphs_from_edge_list
from interdep.workflow import logged

with logged(snakemake.log[0]) as log:
    p = snakemake.params
    panel = read_table(snakemake.input.panel)
    ids_by_year = states_by_year(panel)
    graphs = {
        channel: graphs_from_edge_list(read_table(path), ids_by_year)
        for channel, path in zip(p.spec.get("weights", []), snakemake.input.weights, strict=True)
    }
    summaries = {c: read_table(f) for c, f in zip(p.spec.get("weights", []), snakemake.input.summaries, strict=True)}
    coverage = coverage_table(panel, summaries, [p.spec], sources=p.column_sources, gaps=p.gaps)
    check_models(coverage, [p.spec], p.gaps, first_index=p.index)  # years its sources cover, before fitting
    result = fit_model(p.spec, panel, graphs, seed=p.seed)
    result.fit["carried"] = carried_years(summaries, result.fit["years"])  # links carried past a source
    log.info("%s", result.fit)
    write_table(result.estimate.coefficients(), snakemake.output.coefficients)
    write_table(result.impacts, snakemake.output.impacts)
    write_table(result.sample, snakemake.output.sample)
    write_table(result.profile, snakemake.output.profile)
    write_draws(result.draws, snakemake.output.draws)
    write_json(result.fit, snakemake.output.fit)
