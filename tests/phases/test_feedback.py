"""Training feedback (issue 13): errors in mm, everything on stderr, one line per epoch at every
--verbose level, the --tiny expectation, refusal to retrain a phase already in a bundle, the usage line."""
import io

import numpy as np
import pytest

from cascade.config import tiny
from cascade.progress import Progress
from cascade.stages import GlobalStage, LocalStage
from phases.feedback import announce, mean_error_mm, mm_per_unit
from tests.cascade.test_stages import blob_case
from tests.phases.test_training import tiny_config


def test_global_error_in_mm_is_the_decoded_distance():
    """Phase 1's normalised targets span each scan's field of view: scaled back, the error is the LPS distance."""
    stage = GlobalStage(1, tiny().phase1)
    cases = [blob_case(0), blob_case(1)]
    samples = [stage.sample(c) for c in cases]
    y = np.stack([s[1] for s in samples])
    pred = y + np.random.default_rng(0).normal(0, 0.05, y.shape)
    truth_mm = np.concatenate([stage.decode(t, g) for _, t, g in samples])
    pred_mm = np.concatenate([stage.decode(p, g) for p, (_, _, g) in zip(pred, samples)])
    present = ~np.isnan(truth_mm).any(axis=1)
    expected = np.linalg.norm(pred_mm - truth_mm, axis=1)[present].mean()
    assert mean_error_mm(pred, y, mm_per_unit(stage, cases)) == pytest.approx(expected, rel=1e-9)


def test_local_error_in_mm_is_the_decoded_distance():
    stage = LocalStage(2, tiny().phase2)
    case = blob_case(0)
    centre = case.landmarks.coords[0] + [3.0, -2.0, 1.0]
    _, affine = stage.inputs(case, centre)
    target = stage.target(affine, case.landmarks.coords[0])
    pred = target + [0.1, -0.05, 0.02]
    expected = np.linalg.norm(stage.decode(pred, affine) - case.landmarks.coords[0])
    assert mean_error_mm(pred[None], target[None], mm_per_unit(stage, [case])) == pytest.approx(expected, rel=1e-6)


def test_announce_keeps_one_plain_line_per_step_off_a_terminal():
    out = io.StringIO()
    bar = Progress(3, "phase 2 epoch", stream=out)
    announce(bar, "loss 0.1, val error 5.0 mm")
    [line] = out.getvalue().splitlines()
    assert line.startswith("phase 2 epoch 1/3 (33 %)") and line.endswith(": loss 0.1, val error 5.0 mm")
    assert "\r" not in out.getvalue() and "\033" not in out.getvalue()


def test_announce_on_a_terminal_leaves_the_line_above_the_bar():
    out = io.StringIO()
    bar = Progress(2, "phase 1 epoch", stream=out, bar=True)
    announce(bar, "val error 9.0 mm")
    announce(bar, "val error 8.0 mm")
    bar.close()
    lines = [line.split("\033[K")[-1] for line in out.getvalue().split("\n")]
    assert any(line.startswith("phase 1 epoch 1/2") and line.endswith("val error 9.0 mm") for line in lines)
    assert any(line.startswith("phase 1 epoch 2/2") and line.endswith("val error 8.0 mm") for line in lines)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """Four blob scans (NIfTI) and their landmark files, as a training manifest."""
    from data.landmark_io import write_landmarks
    from data.nifti import write_nifti
    from data.volume import Volume

    folder = tmp_path_factory.mktemp("blobs")
    rows = ["case_id,image,landmarks"]
    for s in range(4):
        case = blob_case(s)
        write_nifti(Volume(case.volume.array.astype(np.float32), case.volume.affine), folder / f"c{s}.nii.gz")
        present = case.landmarks.subset(["A", "B"])
        write_landmarks(folder / f"c{s}.csv", present)
        rows.append(f"c{s},c{s}.nii.gz,c{s}.csv")
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder / "manifest.csv"


def cli(phases, manifest, bundle, *extra):
    from phases.train_cli import run

    return run(phases, ["--manifest", str(manifest), "--bundle", str(bundle), "--tiny", "--epochs", "1",
                        "--crops-per-case", "2", *extra])


def test_cli_reports_each_epoch_in_mm_on_stderr_only_and_refuses_to_retrain(tmp_path, manifest, capfd):
    from phases.train_cli import TINY_NOTE

    bundle = tmp_path / "b"
    assert cli([1], manifest, bundle, "--verbose", "0") == 0
    out, err = capfd.readouterr()
    assert out == ""  # no Keras bar, nothing on stdout
    epoch = [line for line in err.splitlines() if line.startswith("phase 1 epoch 1/1")]
    assert len(epoch) == 1 and "train error" in epoch[0] and "val error" in epoch[0] and " mm" in epoch[0]
    assert TINY_NOTE in err.splitlines() and "\r" not in err
    # the phase exists now: refused (one line, exit 2) and left as it was
    before = (bundle / "phase1.keras").read_bytes()
    assert cli([1], manifest, bundle) == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert lines == [f"error: {bundle}: phase 1 is already trained (phase1.keras); --overwrite trains it anew and "
                     "replaces it, --resume continues its training"]
    assert (bundle / "phase1.keras").read_bytes() == before
    # the normal flow: phase 2 into a bundle holding phase 1, no flag needed
    assert cli([2], manifest, bundle) == 0
    assert (bundle / "phase2.keras").is_file()
    assert cli([2], manifest, bundle, "--overwrite") == 0
    err = capfd.readouterr().err
    assert "phase 2 epoch 1/1" in err and "== phase 2" in err


def test_verbose_2_adds_the_raw_keras_metrics(tmp_path, manifest, capfd):
    assert cli([1], manifest, tmp_path / "b", "--verbose", "2") == 0
    epoch = [line for line in capfd.readouterr().err.splitlines() if line.startswith("phase 1 epoch 1/1")]
    assert len(epoch) == 1 and "keras: " in epoch[0] and "val_coord" in epoch[0]


def test_overwrite_and_resume_exclude_each_other(capsys):
    from phases.train_cli import parser

    with pytest.raises(SystemExit):
        parser([1]).parse_args(["--manifest", "m", "--bundle", "b", "--overwrite", "--resume"])


def test_usage_names_the_command_as_typed():
    from phases.train_cli import parser

    assert parser([1, 2, 3]).format_usage().startswith("usage: python -m phases.train_all ")
    assert parser([2]).format_usage().startswith("usage: python -m phases.train_phase2 ")
    assert parser([1, 2, 3], "landmark-cascade train").format_usage().startswith("usage: landmark-cascade train ")


def test_train_phase_alone_prints_its_epochs_too(tmp_path, capfd):
    """The library call (benchmarks, tests) gives the same per-epoch line, also at verbose=0."""
    from cascade.bundle import Bundle
    from phases.trainer import train_phase

    cases = [blob_case(s) for s in range(3)]
    bundle = Bundle.create(tmp_path / "lib", tiny_config(2), cases[0].landmarks.names)
    train_phase(bundle, 3, cases[:2], cases[2:], verbose=0)
    out, err = capfd.readouterr()
    assert out == ""
    assert [line.split(":")[0].split(" (")[0] for line in err.splitlines() if line.startswith("phase 3 epoch")] == [
        "phase 3 epoch 1/2", "phase 3 epoch 2/2"]
