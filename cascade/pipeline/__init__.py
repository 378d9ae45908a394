"""The prediction pipeline (``run_pipeline.py``, ``landmark-cascade predict``): options and the batch
(``cli``), one scan's steps (``case_run``), output folder names (``naming``), the output folder's
``run.json`` record (``run_manifest``), ``--truth`` values matched to scans (``truths``) and the
batch's ``summary.csv`` (``summary``)."""
