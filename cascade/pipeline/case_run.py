"""One scan through the pipeline, as separate steps: read, predict, write the files, draw QC, score.

``run_case`` composes them; each step takes what the previous ones hold in memory (nothing is
read back from disk), and returns the summary row of the scan plus what the QC index shows.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cascade.bone_distance import ct_trained, scan_is_ct
from cascade.evaluation.metrics import phase_mre
from cascade.schema import FAR_FROM_BONE, OK, OUTSIDE_SCAN, STATE, UNCERTAIN, UNCERTAINTY, flagged, phase_label
from data.atomic import write_csv
from data.landmarks import LandmarkSet
from data.volume import Volume

FORMATS = ("csv", "fcsv", "mrk.json", "json")
MR_ON_CT_MODEL = "MR scan given to a CT-trained model: expect wrong points"


@dataclass
class CaseResult:
    """What one scan produced: its summary row, its prediction and (with a truth) its error table."""

    row: dict
    landmarks: LandmarkSet
    errors: pd.DataFrame | None = None
    files: list[Path] = field(default_factory=list)


def write_prediction(folder: Path, lm: LandmarkSet, scan: Path) -> list[Path]:
    """``landmarks.{csv,fcsv,mrk.json,json}`` (each written atomically; the CSV without a description line)."""
    from data.landmark_io import write_landmarks

    note = f"Landmark Cascade prediction for {scan}"
    return [write_landmarks(folder / f"landmarks.{fmt}", lm, description=note) for fmt in FORMATS]


def state_counts(lm: LandmarkSet) -> dict[str, int]:
    """Summary fields: ``landmarks``, how many to ``review`` (any state but ``ok``) and how many are
    ``outside_scan`` / ``far_from_bone`` / ``uncertain``."""
    states = list(lm.extra.get(STATE, []))
    return {"landmarks": len(lm), "review": sum(map(flagged, states)), OUTSIDE_SCAN: states.count(OUTSIDE_SCAN),
            FAR_FROM_BONE: states.count(FAR_FROM_BONE), UNCERTAIN: states.count(UNCERTAIN)}


def modality_notes(cascade, vol: Volume) -> list[str]:
    """Warnings about the scan and the model together (added to the scan's notes): an MR scan
    given to a CT-trained bundle (one whose phases read Hounsfield units)."""
    config = getattr(getattr(cascade, "bundle", None), "config", None)
    mr = str(vol.meta.get("modality", "")).upper() == "MR" and not scan_is_ct(vol)
    return [MR_ON_CT_MODEL] if config is not None and ct_trained(config) and mr else []


def write_sr(folder: Path, scan: Path, lm: LandmarkSet, bundle, series_uid: str | None, store=None) -> dict:
    """``landmarks_sr.dcm`` (``data.dicom_sr``), stored in a PACS by ``store`` when given; summary fields."""
    from data.dicom_sr import write_prediction_sr

    sr = write_prediction_sr(folder / "landmarks_sr.dcm", scan, lm, bundle, series_uid)
    out = {"dicom_sr": sr.name}
    if store is not None:
        out["pacs_sr_uid"] = store(sr)
    return out


def draw_qc(folder: Path, scan: Path, vol: Volume, lm: LandmarkSet, truth: LandmarkSet | None) -> None:
    """``qc_overview.png`` and ``qc/<landmark>.png``."""
    from cascade.qc.overview import display_window, overview_figure
    from cascade.qc.slices import landmark_figures

    window = display_window(vol)
    overview_figure(vol, lm, folder / "qc_overview.png", truth, window=window,
                    title=f"{folder.name}: {scan}".replace("$", r"\$"))  # no mathtext from a path
    landmark_figures(vol, lm, folder / "qc", truth, window=window, title=folder.name)


def score(folder: Path, pred, truth: LandmarkSet) -> tuple[pd.DataFrame, dict]:
    """``errors.csv`` of every phase against ``truth``, and the per-phase MRE summary fields."""
    from cascade.evaluation.metrics import error_table

    errors = error_table(pred.names, pred.estimates, truth, inside=pred.inside, case=folder.name)
    write_csv(errors, folder / "errors.csv")
    return errors, {f"{p}_mre_mm": round(v, 3) for p, v in phase_mre(errors).items()}


def print_table(pred, errors: pd.DataFrame | None, states: list[str] | None = None,
                uncertainty: list[float] | None = None) -> None:
    """Final estimates with their uncertainty (mm, when measured) and state (``ok``, ``outside_scan``,
    ...), and per-phase 3D errors when the truth is known. Without ``states``, the state is ``ok`` or
    ``outside_scan`` from ``pred.inside``."""
    labels = [phase_label(p) for p in range(1, len(pred.estimates) + 1)]
    if states is None:
        states = [OK if v else OUTSIDE_SCAN for v in pred.inside]
    width = max([len("state")] + [len(s) for s in states]) + 2
    head = f"{'name':<6}{'x':>9}{'y':>9}{'z':>9}" + ("   +-mm" if uncertainty is not None else "") + f"  {'state':<{width}}"
    if errors is not None:
        head += "".join(f"{f'err{p} mm':>10}" for p in range(1, len(labels) + 1))
    print(head)
    for n, name in enumerate(pred.names):
        x, y, z = pred.final[n]
        line = f"{name:<6}{x:9.2f}{y:9.2f}{z:9.2f}" + (f"{uncertainty[n]:7.1f}" if uncertainty is not None else "")
        line += f"  {states[n]:<{width}}"
        if errors is not None:
            e = errors[errors.landmark == name].set_index("phase")["error_mm"]
            line += "".join(f"{e.get(p, float('nan')):10.2f}" for p in labels)
        print(line)
    if errors is not None and len(errors):
        print("mean 3D error (mm): " + ", ".join(f"phase {p[5:]}: {v:.2f}" for p, v in phase_mre(errors).items()))


def run_case(cascade, scan: Path, folder: Path, truth: Path | None, series: str | None, echo: bool,
             qc: bool = False, dicom_sr: bool = False, store=None, source: Path | None = None) -> CaseResult:
    """Predict one scan, write its files, return its summary row (and what the QC index shows).

    ``dicom_sr``: also write ``landmarks_sr.dcm``; ``store``: a callable that stores that SR in a
    PACS (``data.pacs.PacsRun.store``); ``source``: where to read the scan when not at ``scan``
    (a cluster worker's absolute path; ``scan`` still names it in every output).
    """
    from data.landmark_io import read_landmarks
    from data.load import load_volume

    t0 = time.perf_counter()
    vol = load_volume(scan if source is None else source, series)
    t_read = time.perf_counter() - t0
    pred = cascade.predict(vol)
    vol.meta.setdefault("notes", []).extend(modality_notes(cascade, vol))
    lm = pred.landmark_set(vol)
    files = write_prediction(folder, lm, scan)
    row = {"case": folder.name, "scan": str(scan), "read_s": round(t_read, 3),
           "predict_s": round(sum(pred.seconds.values()), 3), **state_counts(lm),
           "notes": " | ".join(vol.meta.get("notes", []))}
    if dicom_sr or store is not None:
        row.update(write_sr(folder, scan, lm, cascade.bundle, vol.meta.get("series_uid"), store))
    true_lm = read_landmarks(truth) if truth is not None else None
    if qc:
        draw_qc(folder, scan, vol, lm, true_lm)
    errors = None
    if true_lm is not None:
        errors, fields = score(folder, pred, true_lm)
        row.update(fields)
    if echo:
        print_table(pred, errors, list(lm.extra[STATE]), lm.extra.get(UNCERTAINTY))
    return CaseResult(row, lm, errors, files)
