"""Receivers frame their protocol and hand what arrives to the shared Ingest."""
