"""Shared fixtures. Real data comes from $CIFAR10_DIR (CI extracts the genuine copy there).

Without a dataset the data-dependent tests are skipped with a message saying how to
provide one -- except under CI (CI=true), where a missing dataset is a failure.
"""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def cifar10_dir():
    from helpers.data import DatasetNotFoundError, find_cifar10_dir

    try:
        return find_cifar10_dir(download=False)
    except DatasetNotFoundError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide CIFAR-10: {exc}")
        pytest.skip(f"CIFAR-10 not available (set CIFAR10_DIR to run these tests): {exc}")


@pytest.fixture(scope="session")
def cifar10(cifar10_dir):
    from helpers.data import load_cifar10

    return load_cifar10(cifar10_dir)
