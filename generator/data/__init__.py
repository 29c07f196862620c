"""Record schemas, every site_data path, provenance, model specs and reference data."""
