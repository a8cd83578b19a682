"""Metrics, scale alignment, neuron depth selectivity and model comparison."""
