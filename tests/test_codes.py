"""Code families and fitting, against closed forms and published numbers."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.fs import activations
from helpers.fs import codes, measure
from helpers.fs.fitting import density_grid, fit_code
from helpers.fs.neuron import fs_numpy


def _zeckendorf_digits(n: int, K: int) -> list[int]:
    """Greedy Zeckendorf digits of the integer n with Fibonacci weights F(K+1)..F(2)."""
    fib = [1, 2]
    while len(fib) < K:
        fib.append(fib[-1] + fib[-2])
    digits = []
    for f in reversed(fib[:K]):
        digits.append(1 if n >= f else 0)
        n -= f * digits[-1]
    return digits


def test_fibonacci_code_never_fires_twice_in_a_row():
    code = codes.fibonacci(14, 10.0)
    x = np.linspace(-1, 10.0 - 1e-6, 20001)
    Z = measure.spike_patterns(x, code)
    assert not np.any(Z[:, 1:] * Z[:, :-1]), "two consecutive spikes found"
    # at least one input with a spike at every step, so the code is not trivially sparse
    assert Z.any(axis=0).all()
    assert measure.spike_patterns(np.array([10.5]), code)[0, :2].tolist() == [1, 1]  # saturates


def test_fibonacci_spike_counts_follow_zeckendorf_representation():
    # with weights in the ratio of Fibonacci numbers the greedy code is Zeckendorf's theorem
    K = 10
    fib = [1, 2]
    while len(fib) < K:
        fib.append(fib[-1] + fib[-2])
    w = np.array(fib[::-1], dtype=np.float64)
    from helpers.fs.neuron import FSCode

    code = FSCode("zeck", "relu", w, w, w)
    n = np.arange(0, sum(fib[-2::-2]) + fib[-1])
    out, spikes = fs_numpy(n.astype(np.float64), code)
    for k in (0, 1, 7, 33, 88, 120):
        assert list(measure.spike_patterns(np.array([k]), code)[0]) == _zeckendorf_digits(k, K)
    np.testing.assert_array_equal(out[: 143], n[:143])


def test_midpoint_radix2_is_round_to_nearest():
    K, alpha = 6, 4.0
    q = alpha * 2.0 ** -K
    code = codes.geometric(K, alpha, 2.0, midpoint=True)
    x = np.random.default_rng(0).uniform(0, alpha - q, 5000)
    out, _ = fs_numpy(x, code)
    np.testing.assert_allclose(out, np.clip(np.round(x / q), 0, 2 ** K - 1) * q, atol=1e-6)
    # floor code's MSE on uniform inputs ~ q^2/3, round-to-nearest ~ q^2/12
    m_floor = measure.evaluate(codes.binary(K, alpha), x)["mse"]
    m_round = measure.evaluate(code, x)["mse"]
    assert m_floor == pytest.approx(q ** 2 / 3, rel=0.1) and m_round == pytest.approx(q ** 2 / 12, rel=0.1)


def test_float_like_keeps_relative_error_bounded_where_binary_does_not():
    K = 8
    fl, bi = codes.float_like(K, 1.0, radix=3.0), codes.binary(K, 1.0)
    small = np.linspace(0.0008, 0.0035, 4001)   # below binary's step 2^-8 = 0.0039
    large = np.linspace(0.3, 0.9, 4001)

    def rel_err(code, x):
        return np.max(np.abs(fs_numpy(x, code)[0] - x) / x)

    assert rel_err(fl, small) < 0.5 * rel_err(bi, small)      # binary rounds these to 0: 100 %
    assert rel_err(fl, small) < 2.5 * rel_err(fl, large)      # float-like: similar at all scales
    with pytest.raises(ValueError, match="radix > 2"):
        codes.float_like(8, 1.0, radix=2.0)


def test_representable_outputs_of_binary_are_the_2K_levels():
    c = codes.binary(5, 2.0)
    np.testing.assert_allclose(measure.representable_outputs(c, (-1, 3)), np.arange(32) * 2 / 32)


def test_evaluate_matches_hand_computation():
    c = codes.binary(2, 4.0)  # levels 0, 1, 2, 3
    x = np.array([-1.0, 0.5, 1.0, 3.7])
    m = measure.evaluate(c, x, weights=np.array([1, 1, 1, 2.0]))
    err = np.array([0.0, -0.5, 0.0, -0.7])
    w = np.array([1, 1, 1, 2]) / 5
    assert m["mse"] == pytest.approx(np.sum(w * err ** 2))
    assert m["max_abs_err"] == pytest.approx(0.7)
    assert m["mean_spikes"] == pytest.approx(np.sum(w * np.array([0, 0, 1, 2])))


def test_sm_published_codes_reproduce_their_recorded_losses():
    x = np.linspace(-10, 10, 20001)
    silu = measure.evaluate(codes.sm_published("silu"), x)
    sig = measure.evaluate(codes.sm_published("sigmoid"), x)
    assert codes.sm_published("silu").K == 16 and codes.sm_published("sigmoid").K == 12
    # the repository records training losses of 0.0122 (incl. regularisers) and 1.16e-4
    assert 0.002 < silu["mse"] < 0.0122 and 5e-5 < sig["mse"] < 2e-4


def test_distribution_aware_beats_binary_at_same_K_on_its_distribution():
    rng = np.random.default_rng(0)
    s = np.maximum(rng.normal(0, 1, 20000), 0)
    K = 6
    da = codes.distribution_aware(s, K)
    bin_max = codes.binary(K, float(s.max()))
    assert measure.evaluate(da, s)["mse"] < measure.evaluate(bin_max, s)["mse"]
    with pytest.raises(ValueError, match="no positive input"):
        codes.distribution_aware(-np.abs(s), K)


def test_density_grid_weights_sum_to_one_and_mean_matches():
    s = np.random.default_rng(1).exponential(2.0, 100000)
    c, w = density_grid(s, bins=500)
    assert w.sum() == pytest.approx(1.0) and np.all(w > 0)
    assert np.sum(c * w) == pytest.approx(s.mean(), rel=0.01)


def test_fitted_sigmoid_beats_stated_bound_and_is_deterministic():
    kw = dict(x_range=(-10.0, 10.0), n_grid=801, restarts=2, steps=300, seed=5, progress=False)
    a = fit_code("sigmoid", 8, **kw)
    b = fit_code("sigmoid", 8, **kw)
    np.testing.assert_array_equal(a.code.h, b.code.h)
    np.testing.assert_array_equal(a.code.d, b.code.d)
    x = np.linspace(-10, 10, 20001)
    m = measure.evaluate(a.code, x)
    # a constant 0.5 has MSE 0.173 on this range; a K=8 FS sigmoid must do far better
    assert m["mse"] < 2e-3 and m["max_abs_err"] < 0.15


def test_fitted_silu_error_bound():
    r = fit_code("silu", 10, n_grid=801, restarts=2, steps=400, seed=1, progress=False)
    x = np.linspace(-10, 10, 20001)
    m = measure.evaluate(r.code, x)
    assert m["mse"] < 0.02 and m["mse"] == pytest.approx(r.metrics["mse"], rel=0.2)
    assert r.code.meta["family"] == "fitted" and len(r.restart_losses) == 2


def test_spike_penalty_reduces_spikes():
    s = np.maximum(np.random.default_rng(2).normal(0, 1, 4000), 0)
    x, w = density_grid(s, bins=400)
    free = fit_code("relu", 6, x=x, weights=w, restarts=1, steps=300, seed=0, progress=False)
    priced = fit_code("relu", 6, x=x, weights=w, restarts=1, steps=300, seed=0, lam=0.02,
                      progress=False)
    assert priced.metrics["mean_spikes"] < free.metrics["mean_spikes"]
    assert activations.get("swish") is activations.silu


def test_fit_or_load_reuses_only_the_same_fit(tmp_path, capsys):
    from helpers.fs.fitting import fit_or_load

    kw = dict(restarts=1, steps=4, n_grid=41, x_range=(-2.0, 2.0), seed=7, progress=False)
    first = fit_or_load("silu", 3, tmp_path, **kw)
    again = fit_or_load("silu", 3, tmp_path, **kw)
    assert capsys.readouterr().out == ""
    np.testing.assert_array_equal(first.h, again.h)
    fit_or_load("silu", 3, tmp_path, **{**kw, "steps": 5})
    assert "refitting fitted_silu_K3: steps: saved 4 -> asked 5" in capsys.readouterr().out
    fit_or_load("silu", 3, tmp_path, **{**kw, "steps": 5, "x_range": (-3.0, 3.0)})
    assert "x_range: saved [-2.0, 2.0] -> asked [-3.0, 3.0]" in capsys.readouterr().out


def test_offset_code_fit_save_and_load_round_trip(tmp_path):
    """fit_offset_code fits both halves on the two sides of real-looking inputs; the pair is
    saved as one code file and loads back as an offset code with the same outputs."""
    from helpers.fs.neuron import FSCode
    from helpers.fs.fitting import fit_offset_code
    from helpers.fs.offset import OffsetCode, offset_numpy

    x = np.random.default_rng(0).normal(0.3, 1.5, 4000)
    code = fit_offset_code("sigmoid", 4, x, restarts=1, steps=80, progress=False, seed=0)
    assert isinstance(code, OffsetCode) and code.offset == 0.5 and code.K == 4
    assert code.name == "offset_sigmoid_K4" and code.meta["family"] == "offset"
    out, spikes = offset_numpy(x, code)
    sig = 1 / (1 + np.exp(-x))
    assert np.mean((out - sig) ** 2) < 2e-3          # a real fit, not the 0.5 constant
    assert np.mean((0.5 - sig) ** 2) > 10 * np.mean((out - sig) ** 2)
    back = FSCode.load(code.save(tmp_path))
    assert isinstance(back, OffsetCode)
    np.testing.assert_array_equal(offset_numpy(x, back)[0], out)
    with pytest.raises(ValueError, match="no negative inputs"):
        fit_offset_code("sigmoid", 4, np.abs(x), restarts=1, steps=5, progress=False)
