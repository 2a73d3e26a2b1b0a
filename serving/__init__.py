"""Serving: the BentoML service (rules -> model -> review routing), decision log and feedback."""
