"""Training: datasets, candidate models, evaluation, MLflow tracking, the promotion gate."""
