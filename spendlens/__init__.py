"""spendlens: categorize money transactions and keep improving from human feedback."""

__version__ = "0.1.0"
