"""Bad input is answered with a message that names the problem and the fix."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers.data import load_cifar10
from helpers.fs.codes import binary
from helpers.fs.neuron import CodeError, FSCode, fs_numpy


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fs_neuron_refuses_non_finite_input(bad):
    with pytest.raises(ValueError, match="1 NaN or inf value"):
        fs_numpy(np.array([0.5, bad, 2.0]), binary(4, 4.0))


@pytest.mark.parametrize("kw", [{"n_train": 0}, {"n_test": -1}, {"n_test": 10_001},
                                {"n_train": 50_001}, {"n_train": 2.5}])
def test_subset_sizes_outside_the_data_set_are_refused(kw, tmp_path):
    name = next(iter(kw))
    with pytest.raises(ValueError, match=f"{name}=.*between 1 and"):
        load_cifar10(tmp_path, **kw)        # checked before the folder is looked at


def test_corrupt_code_file_names_the_file(tmp_path):
    path = binary(4, 2.0).save(tmp_path)
    path.write_text(path.read_text()[:40])
    with pytest.raises(CodeError, match=f"code file {path} is not valid JSON"):
        FSCode.load(path)


def test_incomplete_code_file_names_the_file_and_the_keys(tmp_path):
    path = binary(4, 2.0).save(tmp_path)
    obj = json.loads(path.read_text())
    del obj["T"]
    path.write_text(json.dumps(obj))
    with pytest.raises(CodeError, match=rf"code file {path}: code JSON is missing keys \['T'\]"):
        FSCode.load(path)


def test_relu_code_with_a_negative_threshold_is_refused(tmp_path):
    c = FSCode("bad_relu", "relu", [1.0, 0.5], [1.0, -0.5], [1.0, 0.5])
    path = c.save(tmp_path)
    with pytest.raises(CodeError, match=r"negative T .*thresholds and resets >= 0"):
        FSCode.load(path)
    silu = FSCode("ok_silu", "silu", [1.0, -0.5], [1.0, -0.5], [1.0, 0.5])
    assert FSCode.load(silu.save(tmp_path)).T.tolist() == [1.0, -0.5]
