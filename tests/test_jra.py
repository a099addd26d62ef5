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


# -- the code as a family of FS layers ----------------------------------------------------

from helpers.fs.jra import jra_code, jra_numpy, jra_tf_forward  # noqa: E402
from helpers.fs.measure import evaluate, spike_bound  # noqa: E402


@pytest.mark.parametrize("x, seed_code, improved", [
    # alpha 8, elim 2 (e_max 3), K 2. x = 2.7: e = 2 (8 -> 4 -> 2 <= 2.7), e' = 1.
    # seed: bits of e = 10 (1 spike), mantissa 2 fires, 1 not -> 2.0; improved: bits of
    # e' = 01 (1 spike), implicit 2, thresholds 1, 0.5 on the rest 0.7: 0.5 fires -> 2.5
    (2.7, (2.0, 2), (2.5, 2)),
    # x = 1.3: no binade above 8/8 -> e = 3 (seed: 2 exponent spikes, m = 1: 1 fires -> 1.0);
    # improved: e' = 0 is the subnormal range scaled like e' = 1 (g = 1/4): 1 fires -> 1.0
    (1.3, (1.0, 3), (1.0, 1)),
    # x = 0.3 sends nothing but the seed code's exponent bits
    (0.3, (0.0, 2), (0.0, 0)),
    (0.0, (0.0, 2), (0.0, 0)),
    # capped at alpha: e = 0 (seed: no exponent spike; 8 fires); improved: e' = 3 = 0b11
    # (two spikes), implicit 8, nothing left for the thresholds 4, 2
    (9.0, (8.0, 1), (8.0, 2)),
])
def test_hand_encoded_values_of_both_variants(x, seed_code, improved):
    for variant, (value, spikes) in ((False, seed_code), (True, improved)):
        out, n = jra_numpy(np.array([x]), jra_code(2, 2, 8.0, variant))
        assert (out[0], n[0]) == (value, spikes), (x, variant)


def test_network_code_equals_the_seed_reference_and_tensorflow():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(50_000) * 4).astype(np.float32)
    ref = jra_fp(x, 4, 3, 6.5)
    out, n = jra_numpy(x, jra_code(4, 3, 6.5))
    np.testing.assert_array_equal(out, ref["value"].astype(np.float32))
    np.testing.assert_array_equal(n, ref["spikes"])
    for improved in (False, True):
        code = jra_code(3, 2, 1.0, improved).scaled(2.75)
        assert code.alpha == 2.75 and code.K == 5 and code.meta["family"] == (
            "jra_fp_improved" if improved else "jra_fp")
        o_np, n_np = jra_numpy(x, code)
        o_tf, n_tf = jra_tf_forward(x, code)
        np.testing.assert_array_equal(o_np, o_tf.numpy())
        np.testing.assert_array_equal(n_np, n_tf.numpy())


def test_improved_variant_halves_the_error_and_spends_nothing_on_zero():
    x = np.linspace(0, 1, 1000)
    seed_err = np.abs(jra_numpy(x, jra_code(4, 4, 10.0))[0] - x).sum()
    imp_err = np.abs(jra_numpy(x, jra_code(4, 4, 10.0, True))[0] - x).sum()
    assert seed_err == pytest.approx(22.40, abs=0.01) and imp_err < 0.55 * seed_err
    assert jra_numpy(np.zeros(3), jra_code(4, 4, 10.0))[1].tolist() == [4, 4, 4]
    assert jra_numpy(np.zeros(3), jra_code(4, 4, 10.0, True))[1].tolist() == [0, 0, 0]


def test_spike_bound_hand_cases():
    # three levels 0.5 / 0.3 / 0.2, K = 2: no spike for the first, one for the others
    out = np.array([0.0] * 5 + [1.0] * 3 + [2.0] * 2)
    assert spike_bound(out, 2) == pytest.approx(0.5)
    # four equally frequent levels, K = 2: patterns 00, 01, 10, 11 -> (0 + 1 + 1 + 2) / 4
    assert spike_bound(np.arange(4.0), 2) == pytest.approx(1.0)
    # weights count like repetitions
    assert spike_bound(np.array([0.0, 1.0, 2.0]), 2, np.array([5, 3, 2])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="3 output levels cannot be sent with 1"):
        spike_bound(np.arange(3.0), 1)
    # a code never beats its bound: binary K = 4 on uniform inputs spends 2 spikes on average
    from helpers.fs.codes import binary
    m = evaluate(binary(4, 1.0), np.linspace(0, 0.999, 4096))
    assert m["spike_bound"] <= m["mean_spikes"] == pytest.approx(2.0, abs=0.01)
