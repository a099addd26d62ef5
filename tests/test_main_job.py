"""The main job (`make run`) and the reader's copies it publishes: the full profile re-uses
every committed result offline and reproduces the committed figures and executed notebooks;
a reader's copy is deterministic. In a file of its own so that pytest-xdist (`--dist
loadfile`) runs it beside the chained quick runs of tests/test_notebooks.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from helpers.notebooks import (load_profile, notebooks_on_disk, parameter_names, printed_text,
                               run_notebook)

NOTEBOOKS = notebooks_on_disk()


def _reader_cells(path: Path) -> list:
    """A reader's copy's cells without papermill's injected-parameters cell (it names the
    output folder of the run)."""
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]


@pytest.mark.slow
def test_main_job_runs_offline_from_committed_results(tmp_path, monkeypatch):
    """The full profile on a copy of the committed data/ with no dataset, no ImageNet and an
    empty Keras cache, from a shell without MPLBACKEND: every notebook re-uses its results, and
    the figures it draws and the reader's copies of the notebooks equal the committed ones
    (what keeps `make run` from dirtying `git status`)."""
    from helpers.notebooks import PUBLISHED_DIR, publish_executed
    from helpers.paths import REPO_ROOT

    root = tmp_path / "root"
    shutil.copytree(REPO_ROOT / "data", root / "data")
    for var in ("CIFAR10_DIR", "IMAGENET_DIR", "KERAS_HOME"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    for var in ("MPLBACKEND", "TF_CPP_MIN_LOG_LEVEL"):     # a plain shell, as `make run` sees
        monkeypatch.delenv(var, raising=False)
    for nb in NOTEBOOKS:
        params = {**load_profile("full")[nb.name], "output_root": str(root)}
        if "input_root" in parameter_names(nb):
            params["input_root"] = str(root)
        executed = run_notebook(nb, params, tmp_path / "executed")
        text = printed_text(executed)
        assert "recomputing" not in text and "retraining" not in text, (nb.name, text)
        mine = _reader_cells(publish_executed(executed, tmp_path / "published", root))
        if "savefig(" in nb.read_text(encoding="utf-8"):    # its figures are shown inline too
            shown = sum("image/png" in o.get("data", {}) for c in mine if c.cell_type == "code"
                        for o in c.outputs)
            assert shown, f"{nb.name}: the reader's copy shows no figure"
        assert mine == _reader_cells(PUBLISHED_DIR / nb.name), \
            f"notebooks/executed/{nb.name} differs from this run: run `make run` and commit it"
    drawn = sorted(p.relative_to(root / "figures") for p in (root / "figures").rglob("*.*"))
    assert drawn, "no figure was drawn"
    for rel in drawn:
        assert (root / "figures" / rel).read_bytes() == (REPO_ROOT / "figures" / rel).read_bytes(), \
            f"figures/{rel} differs from the committed file: run `make run` and commit it"


def test_reader_copy_is_deterministic_and_has_no_machine_paths(tmp_path, monkeypatch):
    """publish_executed drops timestamps, stderr and widget views, joins a stream's chunks,
    numbers the cells in order and hides the repository root and the data folders."""
    from helpers.notebooks import publish_executed
    from helpers.paths import REPO_ROOT

    monkeypatch.setenv("CIFAR10_DIR", "/somewhere/cifar-10-batches-py")
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "2026-11-30T11:31:42"}
    a = nbformat.v4.new_code_cell("print(1)", execution_count=7)
    a.metadata["execution"] = {"iopub.status.busy": "2026-11-30T11:31:42.749128Z"}
    a.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                        text=f"re-using {REPO_ROOT}/data/results/x.json\n"
                                             "CIFAR-10 from /somewhere/cifar-10-batches-py\n"),
                 nbformat.v4.new_output("stream", name="stderr", text="100%|##| 3/3 [00:01]\n"),
                 nbformat.v4.new_output("stream", name="stdout", text="done"),
                 nbformat.v4.new_output("stream", name="stdout", text="\n"),
                 nbformat.v4.new_output("display_data", data={
                     "application/vnd.jupyter.widget-view+json": {"model_id": "abc"}})]
    inj = nbformat.v4.new_code_cell("output_root = 'x'")
    inj.metadata["tags"] = ["injected-parameters"]
    b = nbformat.v4.new_code_cell("x", execution_count=3)
    b.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "<F at 0x7f3a>"},
                                        execution_count=3)]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), inj, a, b]
    src = tmp_path / "01_x.ipynb"
    nbformat.write(nb, str(src))
    out = nbformat.read(publish_executed(src, tmp_path / "pub"), as_version=4)
    assert "papermill" not in out.metadata and "execution" not in out.cells[1].metadata
    assert [c.execution_count for c in out.cells[1:]] == [None, 1, 2]
    assert out.cells[1].id == "injected-parameters"        # papermill's id is random
    out.cells = out.cells[:1] + out.cells[2:]
    assert out.cells[1].outputs == [nbformat.v4.new_output(
        "stream", name="stdout", text="re-using data/results/x.json\n"
                                      "CIFAR-10 from $CIFAR10_DIR\ndone\n")]   # one stream
    assert out.cells[2].outputs[0]["data"] == {"text/plain": "<F at 0x…>"}
    assert out.cells[2].outputs[0]["execution_count"] == 2
    text = (tmp_path / "pub" / "01_x.ipynb").read_text()
    assert str(REPO_ROOT) not in text and "2026-11-30" not in text
