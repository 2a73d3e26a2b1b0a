"""Monitoring: Evidently drift and accuracy-from-feedback jobs and the retraining trigger policy."""
