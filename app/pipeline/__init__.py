"""The frame pipeline: decode -> infer -> post-process and the runner (runner.py).

Nothing is imported here, so reading a source (`endodepth info`) does not load torch and the models.
"""
