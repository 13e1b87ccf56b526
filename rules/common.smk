# Helpers shared by the rules: names derived from the (validated) config. No computation here.
from interdep.config import check_config
from interdep.workflow_inputs import channel_source_files, panel_source_files

check_config(config, source="config")

RESULTS = f"results/{config['dataset']}"
RAW_DIR = config["raw_dir"]
SEED = config.get("seed", 20260101)
OUTPUTS = config.get("outputs") or {}
CHANNELS = list(config["channels"])
MODELS = {m["id"]: m for m in config["models"]}


wildcard_constraints:
    channel="|".join(CHANNELS),
    model_id="|".join(MODELS),


def model_weight_files(wildcards):
    return [f"{RESULTS}/weights/{c}.csv" for c in MODELS[wildcards.model_id]["weights"]]


def model_files(name):
    return [f"{RESULTS}/models/{m}/{name}" for m in MODELS]


TABLES = OUTPUTS.get("tables") or {"main": list(MODELS)}
TRUTH_FILE = f"{RAW_DIR}/{OUTPUTS['truth']}" if OUTPUTS.get("truth") else None
TABLE_FILES = (
    [f"{RESULTS}/tables/regression_{name}.{ext}" for name in TABLES for ext in ("md", "tex", "html", "csv")]
    + [f"{RESULTS}/tables/{name}.{ext}" for name in ("impacts", "descriptives", "weights") for ext in ("md", "tex", "csv")]
    + ([f"{RESULTS}/tables/truth.{ext}" for ext in ("md", "tex", "csv")] if TRUTH_FILE else [])
)
FIGURES = ["map_contributions", "moran_scatter", "moran_by_year", "coefficients"] + (["truth"] if TRUTH_FILE else [])
FIGURE_FILES = [f"{RESULTS}/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")]


def all_source_files():
    files = list(panel_source_files(config["panel"], RAW_DIR))
    for spec in config["channels"].values():
        files += channel_source_files(spec, RAW_DIR)
    if TRUTH_FILE:
        files.append(TRUTH_FILE)
    return sorted(set(files))
