"""One weight graph (libpysal.graph.Graph) per interdependence channel and year."""
