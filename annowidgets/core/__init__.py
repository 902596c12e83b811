"""Columnar data model, schema, geometry, codecs and I/O; knows nothing of formats."""
