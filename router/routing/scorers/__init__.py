"""Scorers: each maps (request, target, estimate) to a number in [0, 1]."""
