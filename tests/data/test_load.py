"""``load_volume``: a file that is no scan says what is supported (issue 13)."""
import numpy as np
import pytest

from data.errors import InputError
from data.load import load_volume


@pytest.mark.parametrize("name", ["x.npy", "scan.mha", "notes.txt"])
def test_unsupported_file_names_what_is_supported(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, np.zeros((4, 4, 4)))
    else:
        path.write_bytes(b"not a scan\n" * 20)
    with pytest.raises(InputError) as err:
        load_volume(path)
    assert str(err.value) == f"{path}: not a DICOM file, DICOM folder or NIfTI file (.nii/.nii.gz)"


def test_a_truncated_dicom_file_keeps_its_own_message(tmp_path):
    path = tmp_path / "slice.dcm"
    path.write_bytes(b"\0" * 40)
    with pytest.raises(InputError, match="not a readable DICOM file"):
        load_volume(path)


def test_a_folder_without_dicom_files_still_says_so(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"x" * 200)
    with pytest.raises(InputError, match="no DICOM files found"):
        load_volume(tmp_path)
