"""Paths, seeding and figure saving."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from helpers.paths import REPO_ROOT, project_dirs, resolve
from helpers.report.panels import plot_training_curves
from helpers.report.style import savefig, set_style
from helpers.seeding import DEFAULT_SEED, set_seed


def test_paths_come_from_repo_root_not_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (REPO_ROOT / "helpers" / "paths.py").is_file()
    assert resolve("build/quick") == REPO_ROOT / "build" / "quick"
    assert resolve(tmp_path) == tmp_path
    dirs = project_dirs(tmp_path / "out")
    assert dirs.models == tmp_path / "out" / "data" / "models" and dirs.models.is_dir()
    assert project_dirs().figures == REPO_ROOT / "figures"


def test_set_seed_repeats_numpy_and_tensorflow():
    import tensorflow as tf

    assert set_seed() == DEFAULT_SEED
    a = (np.random.rand(3), tf.random.uniform((3,)).numpy())
    set_seed()
    b = (np.random.rand(3), tf.random.uniform((3,)).numpy())
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    set_seed(7)
    assert not np.array_equal(np.random.rand(3), a[0])


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=300)


def test_set_seed_runs_tensorflow_one_op_at_a_time_or_says_it_cannot():
    get = "tf.config.threading.get_inter_op_parallelism_threads()"
    first = _python("import tensorflow as tf\nfrom helpers.seeding import set_seed\n"
                    f"set_seed()\nprint({get})")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split()[-1] == "1"
    late = _python("import tensorflow as tf\nfrom helpers.seeding import set_seed\n"
                   f"tf.constant(1.0) + 1.0\nset_seed()\nprint({get})")
    assert late.returncode == 0, late.stderr
    assert late.stdout.split()[-1] == "0"
    assert "call helpers.seeding.set_seed before any TensorFlow work" in late.stderr


def test_savefig_writes_png_300dpi_and_pdf(tmp_path):
    set_style()
    cards = [{"name": "m", "activation": "relu",
              "history": {"loss": [2.0, 1.0], "accuracy": [0.3, 0.6],
                          "val_loss": [2.1, 1.2], "val_accuracy": [0.25, 0.55]}}]
    fig = plot_training_curves(cards)
    png, pdf = savefig(fig, "sub/curves", tmp_path)
    plt.close(fig)
    assert png == tmp_path / "sub" / "curves.png" and pdf.suffix == ".pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    dpi = Image.open(png).info["dpi"]
    assert round(dpi[0]) == 300
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["curves.pdf", "curves.png"]


def test_training_recipe_reads_parent_images_and_batchnorm_from_the_card():
    from helpers.report.panels import TRAINING_RECIPES, training_recipe

    assert training_recipe({"init_from": None, "n_train": 50_000}) == "scratch_50k"
    assert training_recipe({"init_from": None}) == "scratch_50k"       # older cards: all images
    assert training_recipe({"init_from": None, "n_train": 45_000}) == "scratch_45k"
    assert training_recipe({"init_from": None, "batchnorm": False}) == "nobn"
    assert training_recipe({"init_from": {"name": "resnet20_relu", "sha256": "x"},
                            "n_train": 45_000}) == "parent_50k"
    assert training_recipe({"init_from": {"name": "resnet20_relu_45k", "sha256": "x"},
                            "n_train": 45_000}) == "parent_45k"
    assert training_recipe({"init_from": "resnet20_relu_45k"}) == "parent_45k"   # a config
    assert len({color for _, color in TRAINING_RECIPES.values()}) == len(TRAINING_RECIPES)
