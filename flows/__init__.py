"""Prefect flows that orchestrate library functions: build features, train, promote, monitor."""
