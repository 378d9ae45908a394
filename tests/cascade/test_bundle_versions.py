"""Every setting travels in ``bundle.json``; old bundles load faithfully; anything else is a clear error."""
import json
import shutil
from dataclasses import replace

import pytest

from cascade.bundle import BUNDLE_VERSION, DEFAULT_BUNDLE, DEMO_BUNDLE, LEGACY, Bundle
from cascade.config import CascadeConfig, preset, tiny
from data.errors import InputError


def _manifest(tmp_path, **changes):
    b = Bundle.create(tmp_path / "b", tiny(), ["A", "B"])
    d = json.loads((b.path / "bundle.json").read_text())
    d.update(changes)
    return b, d


def _write(b, d):
    (b.path / "bundle.json").write_text(json.dumps(d))


def test_every_setting_round_trips_and_versions_are_recorded(tmp_path):
    cfg = replace(preset("paper"), preprocess=replace(preset("paper").preprocess, resample_below=0.5))
    cfg = replace(cfg, phase2=replace(cfg.phase2, window_hu=(-500.0, 1500.0), net=replace(cfg.phase2.net, l2=0.0)))
    b = Bundle.create(tmp_path / "b", cfg, ["A"])
    again = Bundle.open(b.path)
    assert again.config == cfg
    saved = json.loads((b.path / "bundle.json").read_text())
    assert saved["version"] == BUNDLE_VERSION
    assert {"python", "tensorflow", "keras", "numpy"} <= set(saved["info"]["software"])


def test_shipped_bundles_hold_the_values_they_were_trained_with():
    """Both were trained as version 1 (settings then module constants) and migrated: same values."""
    for path in (DEMO_BUNDLE, DEFAULT_BUNDLE):
        b = Bundle.open(path)
        assert json.loads((path / "bundle.json").read_text())["version"] == BUNDLE_VERSION
        for phase in (1, 2, 3):
            net = b.phase_config(phase).net
            assert (net.base_filters, net.l2, net.identity_dim) == tuple(LEGACY[1]["net"][k] for k in
                                                                         ("base_filters", "l2", "identity_dim"))
            assert b.phase_config(phase).window_hu == LEGACY[1]["phase"]["window_hu"]
        assert b.config.preprocess.resample_below == LEGACY[1]["preprocess"]["resample_below"]


def test_version_1_manifest_without_new_settings_uses_legacy_values(tmp_path):
    b, d = _manifest(tmp_path, version=1)
    for key in ("phase1", "phase2", "phase3"):
        d["config"][key].pop("window_hu")
        for k in ("base_filters", "l2", "identity_dim"):
            d["config"][key]["net"].pop(k)
    d["config"].pop("preprocess")
    d["config"].pop("coarse")
    _write(b, d)
    cfg = Bundle.open(b.path).config
    assert cfg.phase2.net.l2 == LEGACY[1]["net"]["l2"] and cfg.coarse.method == "network"
    assert cfg.preprocess.resample_below == LEGACY[1]["preprocess"]["resample_below"]


def test_version_2_manifest_starts_phase_3_from_phase_2(tmp_path):
    b, d = _manifest(tmp_path, version=2)
    assert d["config"].pop("phase3_starts") == "phase2"
    _write(b, d)
    assert Bundle.open(b.path).config.phase3_starts == "phase2"
    d["version"] = BUNDLE_VERSION  # the current version must say it
    _write(b, d)
    with pytest.raises(InputError, match="missing setting phase3_starts"):
        Bundle.open(b.path)


def test_unknown_phase3_start_is_refused(tmp_path):
    b, d = _manifest(tmp_path)
    d["config"]["phase3_starts"] = "anywhere"
    _write(b, d)
    with pytest.raises(InputError, match="phase3_starts 'anywhere': not one of phase2, steadier"):
        Bundle.open(b.path)


def test_unknown_version_is_a_clear_error(tmp_path):
    b, d = _manifest(tmp_path, version=99)
    _write(b, d)
    with pytest.raises(InputError, match="bundle version 99, this software reads versions 1, 2, 3"):
        Bundle.open(b.path)


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["phase2"]["net"].pop("l2"), "phase2.net: missing setting.s. l2"),
    (lambda c: c["phase1"].update(new_knob=3), "phase1: unknown setting.s. new_knob"),
    (lambda c: c.pop("preprocess"), "preprocess: missing setting"),
])
def test_current_version_with_missing_or_unknown_settings_is_refused(tmp_path, edit, message):
    b, d = _manifest(tmp_path)
    edit(d["config"])
    _write(b, d)
    with pytest.raises(InputError, match=message):
        Bundle.open(b.path)


def test_resaving_an_old_bundle_writes_the_current_version_with_every_setting(tmp_path):
    shutil.copy(DEMO_BUNDLE / "bundle.json", tmp_path / "bundle.json")
    b = Bundle.open(tmp_path)
    b.save()
    d = json.loads((tmp_path / "bundle.json").read_text())
    assert d["version"] == BUNDLE_VERSION
    assert CascadeConfig.from_dict(d["config"]) == b.config  # complete: no legacy values needed
