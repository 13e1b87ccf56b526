rule weights:
    message:
        "Building the {wildcards.channel} weight graphs, one per year"
    input:
        panel=f"{RESULTS}/panel.csv",
        source=lambda wc: CHANNEL_SOURCES[wc.channel],
        verified=f"{RESULTS}/verified/channel_{{channel}}.csv",
    output:
        edges=f"{RESULTS}/weights/{{channel}}.csv",
        summary=f"{RESULTS}/weights/{{channel}}_summary.csv",
    params:
        spec=lambda wc: config["channels"][wc.channel],
    log:
        f"{RESULTS}/logs/weights_{{channel}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/weights_{{channel}}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/build_weights.py"


rule moran:
    message:
        "Moran's I of the outcome by year on the {wildcards.channel} graphs"
    input:
        panel=f"{RESULTS}/panel.csv",
        edges=f"{RESULTS}/weights/{{channel}}.csv",
    output:
        f"{RESULTS}/weights/{{channel}}_moran.csv",
    params:
        outcome=OUTPUTS.get("moran_outcome", "log_contrib"),
        seed=SEED,
        permutations=999,
    log:
        f"{RESULTS}/logs/moran_{{channel}}.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=10,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/moran_by_year.py"
