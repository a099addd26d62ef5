"""The JRA floating-point code (helpers.fs.jra) against the numbers of the seed project's
notebook and poster, and against a hand-encoded case."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.fs.jra import jra_fp, jra_fs_reference, percent_difference


def test_hand_encoded_value():
    # alpha = 8, x = 2.7: e = 2 (8 -> 4 -> 2 <= 2.7), m = 2; mantissa thresholds 2, 1, 0.5, 0.25:
    # 2 fires (0.7 left), 1 no, 0.5 fires (0.2 left), 0.25 no -> 2.5; exponent 2 = 0b10: 1 spike
    r = jra_fp(np.array([2.7]), K=4, elim=2, alpha=8.0)
    assert r["exponent"][0] == 2 and r["value"][0] == 2.5 and r["spikes"][0] == 3
    assert r["mantissa"][:, 0].tolist() == [True, False, True, False]
    # capped at alpha; below the smallest binade the exponent saturates at 2**elim - 1
    r = jra_fp(np.array([100.0, 0.0, -3.0]), K=3, elim=2, alpha=8.0)
    assert r["value"].tolist() == [8.0, 0.0, 0.0] and r["exponent"].tolist() == [0, 3, 3]
    with pytest.raises(ValueError, match="alpha > 0"):
        jra_fp(np.zeros(2), K=3, elim=2, alpha=0.0)


def test_the_seed_notebooks_comparison_is_reproduced():
    x = np.linspace(0, 1, 1000)
    assert np.abs(jra_fs_reference(x, 8, 10.0) - x).sum() == pytest.approx(19.53, abs=0.01)
    assert np.abs(jra_fp(x, 4, 4, 10.0)["value"] - x).sum() == pytest.approx(22.40, abs=0.01)


@pytest.mark.parametrize("hi, alpha, K, elim, pct", [(100, 100, 4, 4, -166), (100, 100, 6, 2, -93),
                                                      (1000, 1000, 6, 2, -93), (1, 100, 4, 4, 155)])
def test_the_seed_posters_four_cases_are_reproduced(hi, alpha, K, elim, pct):
    x = np.linspace(0, hi, 1000)
    fs_err = np.abs(jra_fs_reference(x, 8, alpha) - x).sum()
    fp_err = np.abs(jra_fp(x, K, elim, alpha)["value"] - x).sum()
    assert round(percent_difference(fs_err, fp_err)) == pct
