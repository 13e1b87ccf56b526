# A Monte Carlo study of the estimators (config/montecarlo.yaml; src/interdep/montecarlo.py):
# one job per design and chunk of replications, then one summary table and one figure.
from interdep.montecarlo import n_chunks, parse_study

MC = config["montecarlo"]
MC_DESIGNS, MC_ESTIMATORS = parse_study(MC, source="config")
MC_BY_ID = {d.id: d for d in MC_DESIGNS}
RESULTS = f"results/{config['dataset']}"
SEED = config.get("seed", 20260101)
MC_CHUNKS = n_chunks(MC["replications"], MC["chunk_size"])
MC_CHUNK_FILES = [
    f"{RESULTS}/chunks/{d.id}/chunk_{i:04d}.csv" for d in MC_DESIGNS for i in range(MC_CHUNKS)
]
MC_TARGETS = [
    f"{RESULTS}/tables/montecarlo_summary.csv",
    f"{RESULTS}/tables/montecarlo_summary.md",
    f"{RESULTS}/figures/montecarlo.png",
    f"{RESULTS}/figures/montecarlo.pdf",
]


wildcard_constraints:
    design="|".join(MC_BY_ID),
    chunk=r"\d{4}",


rule montecarlo_chunk:
    message:
        "Monte Carlo: design {wildcards.design}, chunk {wildcards.chunk}"
    output:
        f"{RESULTS}/chunks/{{design}}/chunk_{{chunk}}.csv",
    params:
        # the design's config entry as data, so that a changed design reruns exactly its chunks
        design=lambda wc: next(d for d in MC["designs"] if d["id"] == wc.design),
        estimators=lambda wc: {e: MC_ESTIMATORS[e] for e in MC_BY_ID[wc.design].estimators},
        replications=MC["replications"],
        chunk_size=MC["chunk_size"],
        level=MC.get("level", 0.95),
        seed=SEED,
    log:
        f"{RESULTS}/logs/chunk_{{design}}_{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/chunk_{{design}}_{{chunk}}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/montecarlo_chunk.py"


rule montecarlo_summary:
    message:
        "Monte Carlo: bias, RMSE and coverage per design, estimator and coefficient"
    input:
        MC_CHUNK_FILES,
    output:
        replications=f"{RESULTS}/montecarlo_replications.csv",
        csv=f"{RESULTS}/tables/montecarlo_summary.csv",
        md=f"{RESULTS}/tables/montecarlo_summary.md",
        png=f"{RESULTS}/figures/montecarlo.png",
        pdf=f"{RESULTS}/figures/montecarlo.pdf",
    params:
        replications=MC["replications"],
        level=MC.get("level", 0.95),
        figure_terms=MC.get("figure_terms", "rho"),
    log:
        f"{RESULTS}/logs/montecarlo_summary.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/montecarlo_summary.py"
