"""Landmark-set definitions: built-in sets, flip permutation, malformed definition files."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from data.errors import InputError
from data.landmark_defs import SETS_DIR, list_definitions, load_definition

CRANIO = ["S", "N", "Ba", "ANS", "PNS", "Me", "PoR", "PoL", "OrR", "OrL", "CoR", "CoL", "GoR", "GoL", "ZyR", "ZyL"]


def test_builtin_sets_listed() -> None:
    assert {"craniofacial16", "afids32"} <= set(list_definitions())


def test_craniofacial16_content() -> None:
    d = load_definition("craniofacial16")
    assert d.names == CRANIO and d.name == "craniofacial16" and len(d) == 16
    assert d.full_names[:2] == ["Sella", "Nasion"]
    for text in d.definitions:
        assert text.endswith(".") and text.count(". ") == 0 and len(text) > 20
    assert d.pairs == {"PoR": "PoL", "PoL": "PoR", "OrR": "OrL", "OrL": "OrR", "CoR": "CoL", "CoL": "CoR",
                       "GoR": "GoL", "GoL": "GoR", "ZyR": "ZyL", "ZyL": "ZyR"}


def test_afids32_content() -> None:
    d = load_definition("afids32")
    assert d.names == [str(n) for n in range(1, 33)]
    assert d.full_names[:3] == ["AC", "PC", "infracollicular sulcus"]
    midline = [n for n in d.names if n not in d.pairs]
    assert midline == ["1", "2", "3", "4", "5", "10", "11", "14", "19", "20"]
    for right, left in d.pairs.items():  # partners are R/L versions of the same structure
        a, b = d.full_names[d.index(right)], d.full_names[d.index(left)]
        assert {a[:2], b[:2]} == {"R ", "L "} and a[2:] == b[2:]
    assert all(d.definitions)


@pytest.mark.parametrize("name", ["craniofacial16", "afids32"])
def test_flip_permutation_is_an_involution_swapping_partners(name: str) -> None:
    d = load_definition(name)
    perm = d.flip_permutation()
    assert sorted(perm) == list(range(len(d)))
    np.testing.assert_array_equal(perm[perm], np.arange(len(d)))
    for i, n in enumerate(d.names):
        assert d.names[perm[i]] == d.pairs.get(n, n)


def test_flip_swaps_named_craniofacial_pairs() -> None:
    d = load_definition("craniofacial16")
    perm = d.flip_permutation()
    for a, b in [("PoR", "PoL"), ("OrR", "OrL"), ("CoR", "CoL"), ("GoR", "GoL"), ("ZyR", "ZyL")]:
        assert perm[d.index(a)] == d.index(b) and perm[d.index(b)] == d.index(a)
    assert all(perm[d.index(n)] == d.index(n) for n in ["S", "N", "Ba", "ANS", "PNS", "Me"])


def test_flip_augmentation_of_a_symmetric_skull_is_identity() -> None:
    """Mirror x (LPS: right is -x) then relabel with the permutation: a symmetric set is unchanged,
    an asymmetric one is not (so the check can fail)."""
    d = load_definition("craniofacial16")
    rng = np.random.default_rng(0)
    coords = np.zeros((16, 3))
    for n in d.names:
        i = d.index(n)
        if n in d.pairs and n.endswith("R"):
            yz = rng.normal(size=2) * 30
            coords[i] = [-50 - 10 * i, *yz]
            coords[d.index(d.pairs[n])] = [50 + 10 * i, *yz]
        elif n not in d.pairs:
            coords[i] = [0, *(rng.normal(size=2) * 30)]
    mirror = np.array([-1.0, 1.0, 1.0])
    np.testing.assert_array_equal((coords * mirror)[d.flip_permutation()], coords)
    assert not np.array_equal(coords * mirror, coords)


def test_load_by_path_and_independent_of_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "mine.csv"
    shutil.copy(SETS_DIR / "craniofacial16.csv", copy)
    monkeypatch.chdir(tmp_path)
    assert load_definition(copy).names == CRANIO
    assert load_definition(str(copy)).name == "mine"
    assert load_definition("afids32").names[0] == "1"  # built-in found from any working directory


HEAD = "name,full_name,definition,pair\n"
BAD = [
    ("unknown_pair.csv", HEAD + "A,a,x.,B\n", "pair 'B' is not a landmark"),
    ("asym.csv", HEAD + "A,a,x.,B\nB,b,x.,C\nC,c,x.,B\n", "pairs not symmetric"),
    ("oneway.csv", HEAD + "A,a,x.,B\nB,b,x.,\n", "pairs not symmetric"),
    ("self.csv", HEAD + "A,a,x.,A\n", "paired with itself"),
    ("dup.csv", HEAD + "A,a,x.,\nA,b,y.,\n", "line 3: duplicate landmark name 'A'"),
    ("cols.csv", "name,full_name,pair\nA,a,\n", "missing column(s) definition"),
    ("empty.csv", "", "file is empty"),
    ("none.csv", HEAD, "no landmarks"),
    ("noname.csv", HEAD + ",a,x.,\n", "line 2: empty landmark name"),
    ("commas.csv", HEAD + "A,a,one, two,\n", "line 2: more fields than the header"),
]


@pytest.mark.parametrize("fname, content, problem", BAD, ids=[b[0] for b in BAD])
def test_malformed_definition_file(tmp_path: Path, fname: str, content: str, problem: str) -> None:
    path = tmp_path / fname
    path.write_text(content)
    with pytest.raises(InputError) as info:
        load_definition(path)
    assert fname in str(info.value) and problem in str(info.value)


def test_unknown_builtin_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown landmark set .*afids32"):
        load_definition("cranio99")
    with pytest.raises(InputError, match="missing.csv: file not found"):
        load_definition(tmp_path / "missing.csv")
