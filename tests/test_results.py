"""Atomic JSON results files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from helpers.results import read_json, write_json


def test_round_trip_with_numpy_values(tmp_path):
    obj = {"acc": np.float32(0.5), "n": np.int64(3), "arr": np.arange(3), "nested": [{"a": 1.25}]}
    p = write_json(tmp_path / "sub" / "r.json", obj)
    assert read_json(p) == {"acc": 0.5, "n": 3, "arr": [0, 1, 2], "nested": [{"a": 1.25}]}
    assert oct(os.stat(p).st_mode & 0o777) == oct(0o644)


def test_failed_serialisation_keeps_old_file(tmp_path):
    p = write_json(tmp_path / "r.json", {"v": 1})
    with pytest.raises(TypeError):
        write_json(p, {"v": object()})
    assert json.loads(p.read_text()) == {"v": 1}
    with pytest.raises(ValueError, match="non-finite"):
        write_json(p, {"v": float("nan")})
    assert json.loads(p.read_text()) == {"v": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["r.json"]


def test_crash_during_rename_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    p = write_json(tmp_path / "r.json", {"v": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("helpers.results.os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_json(p, {"v": 2})
    assert json.loads(p.read_text()) == {"v": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["r.json"]


def test_missing_results_file_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the notebook that writes it"):
        read_json(tmp_path / "nope.json")
