"""Benchmark commands (``python -m core bench tiling|answer|encoder|batch``): each prints figures and their ratio to
a ceiling or peer measured in the same run."""
