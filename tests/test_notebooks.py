"""Notebook hygiene (parameters cell, stripped outputs, profile coverage) and papermill runs
of every notebook in the quick profile, in order."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from helpers.notebooks import (load_profile, notebooks_on_disk, profile_problems, run_notebook,
                               static_problems)
from helpers.paths import BUILD_DIR

NOTEBOOKS = notebooks_on_disk()


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "01_ann_training.ipynb"


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_notebook_is_in_each_profile(profile):
    assert profile_problems(profile) == []


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_stripped_and_has_parameters(nb):
    assert static_problems(nb) == []


def test_checks_catch_outputs_missing_tag_and_unlisted(tmp_path):
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.cells[0].outputs = [new_output("stream", text="1")]
    nbformat.write(nb, tmp_path / "09_bad.ipynb")
    problems = static_problems(tmp_path / "09_bad.ipynb")
    assert any("parameters" in p for p in problems) and any("outputs" in p for p in problems)
    missing = profile_problems("quick", folder=tmp_path)
    assert any(p.startswith("09_bad.ipynb: not listed") for p in missing)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_quick_profile(nb, cifar10_dir):
    if nb.name.startswith("06_") and not os.environ.get("IMAGENET_DIR"):
        if os.environ.get("CI"):
            pytest.fail("CI must set IMAGENET_DIR for notebook 06")
        pytest.skip("set IMAGENET_DIR (ImageNet validation images) to run notebook 06")
    params = load_profile("quick")[nb.name]
    assert str(params.get("output_root", "")).startswith("build/"), \
        "quick runs must write under build/, never over data/"
    out = run_notebook(nb, params, BUILD_DIR / "executed" / "quick")
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
