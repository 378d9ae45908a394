"""Landmark Cascade: find craniofacial landmarks in CT scans (DICOM folders or NIfTI files).

    python run_pipeline.py                    # built-in example: a synthetic head CT, the shipped model
    python run_pipeline.py SCAN [SCAN ...] --out OUT_DIR [--truth FILE ...] [--qc] [--dicom-sr]
    python run_pipeline.py --help             # every option (the same as ``landmark-cascade predict``)

The pipeline itself is ``cascade.pipeline`` (``cli``: options and the batch; ``case_run``: one scan).
"""
import sys

from cascade.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="run_pipeline.py"))
