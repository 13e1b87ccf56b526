"""Raw sources and the demo world -> a state-year panel keyed by (ccode, year)."""
