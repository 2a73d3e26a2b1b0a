"""Ingestion: pure parsers for CSV statements, JSON feeds and SMS alerts, plus a thin loader."""
