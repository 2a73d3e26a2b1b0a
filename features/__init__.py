"""Feast feature repository: entities, feature views and the FeatureService."""
