rule fit_model:
    message:
        "Fitting model {wildcards.model_id}"
    input:
        panel=f"{RESULTS}/panel.csv",
        weights=model_weight_files,
        summaries=lambda wc: [f"{RESULTS}/weights/{c}_summary.csv" for c in MODELS[wc.model_id].get("weights", [])],
    output:
        coefficients=f"{RESULTS}/models/{{model_id}}/coefficients.csv",
        fit=f"{RESULTS}/models/{{model_id}}/fit.json",
        impacts=f"{RESULTS}/models/{{model_id}}/impacts.csv",
        sample=f"{RESULTS}/models/{{model_id}}/sample.csv",
        profile=f"{RESULTS}/models/{{model_id}}/profile.csv",
        draws=f"{RESULTS}/models/{{model_id}}/draws.parquet",
    params:
        spec=lambda wc: {k: v for k, v in MODELS[wc.model_id].items() if k != "label"},  # label: tables only
        index=lambda wc: list(MODELS).index(wc.model_id),
        seed=SEED,
        # the model's own coverage check, before it is fitted (the coverage rule checks and reports all models;
        # fit_model does not wait for its table, so a change to one source refits only the models that use it)
        column_sources=column_sources(config["panel"]),
        gaps=declared_gaps(config["panel"]),
    log:
        f"{RESULTS}/logs/model_{{model_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/model_{{model_id}}.tsv"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/fit_model.py"


rule coverage:
    message:
        "Checking which years the sources and channels cover and each model can use"
    input:
        panel=f"{RESULTS}/panel.csv",
        summaries=expand(f"{RESULTS}/weights/{{channel}}_summary.csv", channel=CHANNELS),
    output:
        f"{RESULTS}/tables/coverage.csv",
    params:
        channels=CHANNELS,
        channel_sources={name: path.rsplit("/", 1)[-1] for name, path in CHANNEL_SOURCES.items()},
        models=list(MODELS.values()),
        panel=config["panel"],
        gaps=declared_gaps(config["panel"]),
    log:
        f"{RESULTS}/logs/coverage.log",
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    conda:
        "../envs/interdep.yaml"
    script:
        "../scripts/coverage_table.py"
