"""interdep: spatial-lag models of interdependent contributions, as a reproducible Snakemake workflow.

Stages of the flow, one subpackage each:

- :mod:`interdep.panel`   raw sources and the demo world -> a state-year panel
- :mod:`interdep.weights` one weight graph per interdependence channel and year
- :mod:`interdep.models`  spatial-lag estimators, impacts and their inference
- :mod:`interdep.outputs` tables, figures, report and provenance
"""

__version__ = "0.1.0"
