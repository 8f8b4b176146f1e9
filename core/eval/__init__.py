"""Evaluation: ``python -m core.eval`` scores a model per task (metrics.py: the metrics, written out;
report.py: JSON, Markdown and PNG output). Importing this package does not import torch."""
