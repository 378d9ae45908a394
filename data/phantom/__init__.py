"""Synthetic head CT generator with exactly known craniofacial landmarks (craniofacial16).

    from data.phantom import generate_case, write_case, generate_dataset
    vol, landmarks, params = generate_case(seed=3)          # Volume (HU), LandmarkSet (LPS mm)
    generate_dataset("out", cases=10, seed=0)               # DICOM + landmarks + manifest.csv

Command line: ``python -m data.phantom --out DIR --cases N --seed S``.

Modules: ``shape`` (head shape parameters and their distributions), ``anatomy`` (implicit
primitives and exact landmarks), ``sdf`` (the primitives), ``raster`` (block rasteriser),
``scanner`` (pose, field of view, slice geometry, blur, noise, metal; its distributions),
``options`` (switches), ``case`` (cases, files, manifest), ``preview`` (the docs figure).
"""
from data.phantom.anatomy import LABELS, LANDMARK_SET, build_head
from data.phantom.case import (MANIFEST, PhantomCase, case_seed, generate_case, generate_dataset, make_case,
                               write_case)
from data.phantom.options import PROTOCOLS, PhantomOptions
from data.phantom.shape import HeadShape, sample_shape

__all__ = [
    "LABELS", "LANDMARK_SET", "MANIFEST", "PROTOCOLS", "HeadShape", "PhantomCase", "PhantomOptions", "build_head",
    "case_seed", "generate_case", "generate_dataset", "make_case", "sample_shape", "write_case",
]
