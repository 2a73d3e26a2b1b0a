"""Normalization: PII masking, merchant canonicalization and MCC enrichment (pure functions)."""
