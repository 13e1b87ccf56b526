"""Produc / usaww (R plm / splm): unit-effects rho with 2% of state-years dropped at random, 20 draws,
``w_missing: restandardise`` vs ``keep`` (docs/missing_neighbours.md).

Needs the two data sets as CSV, written by R:
``Rscript -e 'library(splm); data(Produc, package="plm"); data(usaww); write.csv(Produc, "DIR/produc.csv",
row.names=FALSE); write.csv(usaww, "DIR/usaww.csv")'``; then ``.venv/bin/python
benchmarks/produc_missing_neighbours.py DIR``.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from libpysal.graph import Graph

from interdep.models.fit import fit_model

src = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
d = pd.read_csv(src / "produc.csv")
w = pd.read_csv(src / "usaww.csv", index_col=0)
states = list(w.index)
code = {s: 10 * (i + 1) for i, s in enumerate(states)}
d["ccode"] = d["state"].map(code)
for c in ("gsp", "pcap", "pc", "emp"):
    d["l" + c] = np.log(d[c])
W = sp.csr_array(w.to_numpy())
g = Graph.from_sparse(W, ids=[code[s] for s in states])
graphs = {"usaww": {int(y): g for y in d["year"].unique()}}
spec = {"id": "produc", "estimator": "sar_ml", "weights": ["usaww"], "outcome": "lgsp",
        "regressors": ["lpcap", "lpc", "lemp", "unemp"], "effects": "unit", "impact_draws": 0}
full = fit_model(spec, d, graphs)
print("full sample rho", full.fit["rho"])
rows = []
for s in range(20):
    rng = np.random.default_rng(s)
    sub = d.loc[rng.uniform(size=len(d)) >= 0.02]
    out = {}
    for mode in ("restandardise", "keep"):
        r = fit_model({**spec, "w_missing": mode}, sub, graphs)
        out[mode] = r.fit["rho"]["usaww"]
        out["changed"] = r.fit["w_missing"]["channels"]["usaww"]["share"]
    out["dropped"] = len(d) - len(sub)
    rows.append(out)
t = pd.DataFrame(rows)
print(t.round(3).to_string())
print(t.describe().round(3).to_string())
