"""Evaluation: inputs (prediction and truth files by case), metrics, post-hoc statistics, the
Markdown report, its figures and the CLI (``python -m cascade.evaluation``). No TensorFlow."""
