"""Spatial-lag estimators, impacts and their inference."""
