"""Large-training-set mechanics: blocked kernel, in-place factorisation, blocked queries."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from perovflow.models import krr
from perovflow.models.krr import KernelRidgeEnergy, KRRHyperparameters, factorise_kernel, gaussian_kernel


def _data(n: int, f: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, f)) * 0.3
    y = -2.0 + 0.1 * np.sin(x @ rng.normal(size=f))
    return x, y


def test_blocked_factor_is_the_cholesky_factor_and_is_made_in_place():
    x, _ = _data(157)
    dense = gaussian_kernel(x, x, 0.7) + 1e-3 * np.eye(len(x))
    reference = np.linalg.cholesky(dense)
    for rows in (5, 64, 157):  # rows per kernel block; 157: one block
        factor = factorise_kernel(x, 0.7, 1e-3, block_bytes=8 * 157 * rows)
        assert factor.flags.c_contiguous and factor.shape == (157, 157)
        assert np.allclose(np.tril(factor), reference, rtol=1e-10, atol=1e-12)
        # above the diagonal blocks nothing was ever written (those pages stay unmapped)
        assert not np.any(np.triu(factor, rows))


def test_not_positive_definite_is_a_clear_error():
    x = np.zeros((3, 4))  # three identical structures: K is all ones
    with pytest.raises(np.linalg.LinAlgError, match="alpha"):
        factorise_kernel(x, 1.0, -0.5)


def test_fit_allocates_a_single_n_by_n_buffer():
    n, f = 1200, 40
    x, y = _data(n, f)
    tracemalloc.start()
    try:
        KernelRidgeEnergy(KRRHyperparameters(alpha=1e-4, gamma=0.5)).fit(x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n_by_n = 8 * n * n
    # the buffer itself plus blocks of at most BLOCK_BYTES; a second n x n copy (a C-ordered
    # kernel handed to LAPACK, or a kernel and its factor) would need twice the buffer
    assert n_by_n <= peak < 1.2 * n_by_n + 2 * krr.BLOCK_BYTES + 8 * n * f


def test_blocked_queries_match_one_block(monkeypatch):
    x, y = _data(300)
    model = KernelRidgeEnergy(KRRHyperparameters(alpha=1e-4, gamma=0.5)).fit(x, y)
    queries = _data(41, seed=4)[0]
    whole_predict, whole_sigma = model.predict(queries), model.sigma(queries)
    dense_predict = gaussian_kernel(queries, x, 0.5) @ model.weights + model.offset
    assert np.allclose(whole_predict, dense_predict, rtol=0, atol=1e-12)
    monkeypatch.setattr(krr, "BLOCK_BYTES", 8 * 300 * 4)  # 4 query rows per block
    assert np.allclose(model.predict(queries), whole_predict, rtol=0, atol=1e-13)
    assert np.allclose(model.sigma(queries), whole_sigma, rtol=1e-12, atol=1e-15)
    assert model.predict(np.zeros((0, 30))).shape == (0,)


def test_loaded_model_refactorises_in_blocks_and_recovers_its_amplitude(monkeypatch):
    x, y = _data(200)
    model = KernelRidgeEnergy(KRRHyperparameters(alpha=1e-4, gamma=0.5)).fit(x, y)
    queries = _data(7, seed=2)[0]
    arrays = model.to_arrays()
    arrays.pop("amplitude")  # a file from before amplitudes were stored
    monkeypatch.setattr(krr, "BLOCK_BYTES", 8 * 200 * 3)
    loaded = KernelRidgeEnergy.from_arrays(arrays)
    assert loaded._factor is None and loaded.amplitude is None
    assert np.allclose(loaded.sigma(queries), model.sigma(queries), rtol=1e-9)
    assert loaded.amplitude == pytest.approx(model.amplitude, rel=1e-10)
    assert np.array_equal(loaded.predict(queries), model.predict(queries))


def test_energy_and_forces_checks_the_derivative_shape():
    x, y = _data(50)
    model = KernelRidgeEnergy().fit(x, y)
    with pytest.raises(ValueError, match="derivatives must have shape"):
        model.energy_and_forces(x[0], np.zeros((4, 3, 29)))
