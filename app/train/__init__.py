"""Datasets, losses and trainers for the default model and the adapters."""
