"""Tables, figures, the report and provenance."""
