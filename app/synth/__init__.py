"""Synthetic endoscopy sequences with exact depth, for tests, the sample clip and training."""
