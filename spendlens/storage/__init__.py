"""Storage: SQLAlchemy 2 models, Alembic migrations and tenant-scoped queries."""
