"""Rules engine: typed, compiled, previewable categorization rules with governed learning."""
