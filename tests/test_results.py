"""Atomic JSON results files and the atomic-output helper."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from helpers.results import atomic_output, read_json, write_json


def test_round_trip_with_numpy_values(tmp_path):
    obj = {"acc": np.float32(0.5), "n": np.int64(3), "arr": np.arange(3), "nested": [{"a": 1.25}]}
    p = write_json(tmp_path / "sub" / "r.json", obj)
    assert read_json(p) == {"acc": 0.5, "n": 3, "arr": [0, 1, 2], "nested": [{"a": 1.25}]}
    assert oct(os.stat(p).st_mode & 0o777) == oct(0o644)


def test_failure_during_the_write_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    p = write_json(tmp_path / "r.json", {"v": 1})
    written = []

    def fsync_then_fail(fd):
        # called once the new text is in the temporary file: record it, then fail
        written.extend(json.loads(f.read_text()) for f in tmp_path.iterdir() if f != p)
        raise OSError("I/O error")

    monkeypatch.setattr("helpers.results.os.fsync", fsync_then_fail)
    with pytest.raises(OSError, match="I/O error"):
        write_json(p, {"v": 2})
    assert written == [{"v": 2}]                      # the failure came after the write
    assert json.loads(p.read_text()) == {"v": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["r.json"]


def test_non_finite_values_are_refused_with_the_fix(tmp_path):
    p = write_json(tmp_path / "r.json", {"v": 1})
    with pytest.raises(ValueError, match="non-finite float nan.*replace it with None"):
        write_json(p, {"v": float("nan")})
    assert json.loads(p.read_text()) == {"v": 1}


def test_crash_during_rename_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    p = write_json(tmp_path / "r.json", {"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("helpers.results.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_json(p, {"v": 2})
    assert json.loads(p.read_text()) == {"v": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["r.json"]


def test_atomic_output_renames_a_complete_file_over_the_target(tmp_path):
    target = tmp_path / "sub" / "fig.pdf"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".pdf") and tmp != target
        tmp.write_bytes(b"%PDF-new")
        assert not target.exists()                    # nothing at the target until the end
    assert target.read_bytes() == b"%PDF-new"
    assert oct(os.stat(target).st_mode & 0o777) == oct(0o644)
    assert [f.name for f in target.parent.iterdir()] == ["fig.pdf"]
    with atomic_output(tmp_path / "w.weights.h5", suffix=".weights.h5") as tmp:
        assert tmp.name.endswith(".tmp.weights.h5")
        tmp.write_bytes(b"w")


def test_atomic_output_error_in_the_block_keeps_target_and_removes_temp(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="save failed"), atomic_output(target) as tmp:
        tmp.write_bytes(b"half a mod")
        raise RuntimeError("save failed")
    assert target.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["model.keras"]
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "new.keras") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("save failed")
    assert [f.name for f in tmp_path.iterdir()] == ["model.keras"]


def test_missing_results_file_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the notebook that writes it"):
        read_json(tmp_path / "nope.json")


def test_provenance_names_files_and_detects_every_change(tmp_path, capsys):
    from helpers.results import provenance, provenance_changes, reuse_results, write_json

    root = tmp_path / "root"
    (root / "data" / "models").mkdir(parents=True)
    model = root / "data" / "models" / "m.keras"
    model.write_bytes(b"weights v1")
    outside = tmp_path / "ckpt.pth"
    outside.write_bytes(b"checkpoint")
    prov = provenance({"K_list": (4, 6), "n": 5}, [model, outside], root)
    assert prov["params"] == {"K_list": [4, 6], "n": 5}           # JSON-normalised
    assert set(prov["files"]) == {"data/models/m.keras", "ckpt.pth"}
    assert prov["files"]["ckpt.pth"] == hashlib.sha256(b"checkpoint").hexdigest()
    results = root / "data" / "results" / "r.json"
    write_json(results, {"rows": [1], "provenance": prov})
    assert reuse_results(results, prov)["rows"] == [1]
    assert "re-using" in capsys.readouterr().out
    model.write_bytes(b"weights v2")
    changed = provenance({"K_list": [4], "n": 5, "extra": 1}, [model], root)
    assert provenance_changes(prov, changed) == [
        "K_list: [4, 6] -> [4]", "extra: '<unset>' -> 1", "input ckpt.pth no longer read",
        "data/models/m.keras changed"]
    assert reuse_results(results, changed) is None
    assert capsys.readouterr().out.startswith("recomputing r.json: K_list: [4, 6] -> [4]")
    assert reuse_results(results, prov, reuse=False) is None
    assert provenance_changes(None, prov) == ["the stored file records no provenance"]
    with pytest.raises(FileNotFoundError, match="input of this result"):
        provenance({}, [root / "data" / "absent.json"], root)


def test_recorded_results_are_shown_with_what_they_were_made_for(tmp_path, capsys):
    """A stage that cannot run here (GeNN missing) shows its stored results as they are and
    says in one line whether they match the current inputs; a long list of changes is cut
    to three and a count."""
    from helpers.results import provenance, recorded_results, results_match

    root = tmp_path / "root"
    (root / "data" / "models").mkdir(parents=True)
    models = [root / "data" / "models" / f"m{i}.keras" for i in range(5)]
    for m in models:
        m.write_bytes(m.name.encode())
    prov = provenance({"n": 5}, models[:1], root)
    path = root / "data" / "results" / "g.json"
    assert recorded_results(path, prov) is None and not results_match(path, prov)
    assert capsys.readouterr().out == f"no g.json recorded at {path}\n"
    write_json(path, {"rows": [1], "provenance": prov})
    assert results_match(path, prov) and not results_match(path, provenance({"n": 6}, models[:1], root))
    assert capsys.readouterr().out == ""                  # it says nothing
    assert recorded_results(path, prov)["rows"] == [1]
    assert capsys.readouterr().out == ("showing g.json as recorded, made for the current "
                                       "parameters and input files\n")
    assert recorded_results(path, provenance({"n": 5}, models[1:], root))["rows"] == [1]
    assert capsys.readouterr().out == (
        "showing g.json as recorded, made for other inputs than the current ones: input "
        "data/models/m0.keras no longer read; new input data/models/m1.keras; new input "
        "data/models/m2.keras; and 2 more\n")                      # m3, m4: new
