import itertools
import math
import warnings

import pytest
import torch
from conftest import EPS
from hypothesis import given, settings
from hypothesis import strategies as st
from test_options import RefuseWork

import gdtutor
from gdtutor import decomposition, matrices, metrics, operators, seeds
from gdtutor.decomposition import StiefelSGD, orthonormal_factor, sign_convention, svd_2020


def spectrum(kind: str, r: int) -> torch.Tensor:
    values = {
        "geometric": matrices.geometric_spectrum(r, 1e4),
        "clustered": torch.tensor(
            [1.0, 1.0 - 1e-3, 1.0 - 2e-3] + [0.5] * (r - 3), dtype=torch.float64
        )[:r],
        "repeated": torch.tensor([2.0, 2.0, 2.0] + [1.0] * (r - 3), dtype=torch.float64)[:r],
        "rank-deficient": torch.tensor([3.0, 1.0] + [0.0] * (r - 2), dtype=torch.float64)[:r],
    }
    return values[kind]


#: The constant of the rounding floor ``FLOOR_C·max(m, n)·u`` of an SVD, relative to σ₁. Forming
#: A·v and Aᵀ·u errs by up to γ_n‖|A|‖ ≈ max(m, n)·u·σ₁ (Higham, Lemma 3.5; |A| = A for
#: non-negative A), and orthogonalization and Rayleigh–Ritz add a modest factor: c = 20 (measured
#: up to 6.8 over seeds 0–4 and the MKL/ATen code paths, in the relative residual).
FLOOR_C = 20


def rounding_floor(shape, dtype):
    """``FLOOR_C·max(m, n)·u``, the relative accuracy (in units of σ₁) a stable SVD reaches."""
    return FLOOR_C * max(shape[-2:]) * EPS[dtype] / 2  # EPS = 2u


def check_against_torch(a, result, dtype=torch.float64, floor=None):
    U, S, Vh = result  # unpacks like torch.linalg.svd
    k = S.shape[-1]
    floor = rounding_floor(a.shape, dtype) if floor is None else floor
    reference = torch.linalg.svd(a.double(), full_matrices=False)
    u_ref, s_ref = reference.U[..., :k], reference.S[..., :k]
    # Weyl: |σ̂ᵢ - σᵢ| ≤ ‖E‖₂ for the backward error E of the computed SVD, at most floor·σ₁
    # (the float64 reference is exact by comparison for float32 results, and within its own
    # floor for float64 ones, which the constant c covers)
    assert metrics.singular_value_error(S.double(), s_ref) < floor
    assert (S[..., :-1] >= S[..., 1:]).all() and (S >= 0).all()
    # each entry of UᵀU - I is an inner product of length max(m, n) after orthogonalization,
    # within the floor; the Frobenius norm over the k × k entries is at most k times that
    assert metrics.orthogonality_error(U) < k * floor
    assert metrics.orthogonality_error(Vh.mT) < k * floor
    return u_ref, s_ref


def wedin_gaps(s):
    """Each singular value's distance to the others and to 0 (the gap of its vectors in Wedin's bound)."""
    distances = (s.unsqueeze(-1) - s.unsqueeze(-2)).abs()
    distances = distances + torch.diag_embed(torch.full_like(s, math.inf))
    return torch.minimum(distances.amin(dim=-1), s)


@pytest.mark.parametrize("shape", [(6, 4), (5, 5), (4, 7), (1, 3), (3, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("method", ["lobpcg", "brockett"])
def test_matches_torch_on_random_matrices(shape, dtype, method):
    a = matrices.seeded_rand(*shape, seed=11, dtype=dtype)
    result = gdtutor.svd(a, method=method)
    assert result.converged and result.U.dtype == dtype
    u_ref, s_ref = check_against_torch(a, result, dtype)
    floor = rounding_floor(shape, dtype)
    # ‖A - UΣVᵀ‖_F ≤ ‖E‖_F ≤ √k‖E‖₂ ≤ √k·floor·σ₁, and ‖A‖_F ≥ σ₁
    assert metrics.reconstruction_error(a, *result) < math.sqrt(min(shape)) * floor
    # distinct singular values: vectors agree up to a joint sign per column, each within
    # Wedin's bound sin θᵢ ≤ floor·σ₁/gapᵢ (ours and the reference's: a factor 2)
    u, _ = metrics.align_signs(result.U.double(), result.Vh.double(), u_ref)
    column_error = (u - u_ref).abs().amax(dim=0)
    assert (column_error < 2 * floor * s_ref[0] / wedin_gaps(s_ref)).all()


@pytest.mark.parametrize("kind", ["geometric", "repeated", "rank-deficient"])
@pytest.mark.parametrize("shape", [(12, 8), (8, 12), (9, 9)])
@pytest.mark.parametrize("method", ["lobpcg", "brockett"])
def test_hard_spectra(kind, shape, method):
    s = spectrum(kind, min(shape))
    a = matrices.with_singular_values(s, shape=shape, seed=3)
    result = gdtutor.svd(a, method=method)
    assert result.converged
    check_against_torch(a, result)
    floor = rounding_floor(shape, torch.float64)
    # ‖A - UΣVᵀ‖_F ≤ √k‖E‖₂ ≤ √k·floor·σ₁, and ‖A‖_F ≥ σ₁
    assert metrics.reconstruction_error(a, *result) < math.sqrt(min(shape)) * floor
    if kind == "repeated":  # only the subspace of the repeated value is determined
        u_ref = torch.linalg.svd(a).U[:, :3]
        # Wedin: sin Θ ≤ floor·σ₁/δ with σ₁ = 2 and the gap δ = 2 - 1 to the rest (ours and
        # the reference's: a factor 2)
        assert metrics.largest_principal_angle(result.U[:, :3], u_ref) < 2 * floor * 2.0 / 1.0


@pytest.mark.parametrize("shape", [(12, 8), (9, 9)])
def test_brockett_close_singular_values_converge_slowly_but_values_first(shape):
    # gaps of 1e-3 at the top: the ascent's rate is set by absolute gaps, so the vectors lag,
    # but singular values are second order in the vector error: with u, v at angles θ_u, θ_v
    # from the singular pair, |uᵀAv - σ| ≤ σ₁(θ_u² + θ_v²), so they reach the rounding floor
    # (Weyl, c·max(m, n)·u) while the run, judged by its vectors, has not converged
    a = matrices.with_singular_values(spectrum("clustered", min(shape)), shape=shape, seed=3)
    result = gdtutor.svd(a, method="brockett", max_steps=3000)
    reference = torch.linalg.svd(a)
    assert not result.converged
    value_error = metrics.singular_value_error(result.S, reference.S)
    assert value_error < rounding_floor(shape, torch.float64)
    # only the top three vectors are determined (the value 0.5 repeats); their angles are first
    # order, and even at rounding level they are u·σ₁/gap = 10³u (Wedin), above the values' error
    u_ref = reference.U[:, :3]
    u = result.U[:, :3]
    angles = torch.linalg.vector_norm(u - u_ref * (u_ref * u).sum(dim=0), dim=0)  # sin θ
    assert angles.max().item() > value_error


@pytest.mark.parametrize("method", ["lobpcg", "brockett", "orthogonal-iteration"])
def test_top_k_of_a_larger_matrix(method):
    a = matrices.with_singular_values(matrices.geometric_spectrum(60, 1e6), shape=(120, 60), seed=5)
    result = gdtutor.svd(a, k=5, method=method)
    assert result.converged
    assert result.U.shape == (120, 5) and result.S.shape == (5,) and result.Vh.shape == (5, 60)
    check_against_torch(a, result)


def test_batches_keep_their_shape_and_match_each_matrix():
    a = matrices.seeded_rand(2, 3, 6, 4, seed=2, dtype=torch.float64)
    result = gdtutor.svd(a)
    assert (
        result.U.shape == (2, 3, 6, 4)
        and result.S.shape == (2, 3, 4)
        and result.Vh.shape == (2, 3, 4, 4)
    )
    check_against_torch(a, result)


@settings(max_examples=20, deadline=None)
@given(
    m=st.integers(min_value=1, max_value=9),
    n=st.integers(min_value=1, max_value=9),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_brockett_property(m, n, seed):
    a = torch.randn(m, n, generator=seeds.generator(seed), dtype=torch.float64)
    result = gdtutor.svd(a, method="brockett", max_steps=20_000)
    check_against_torch(a, result)


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(min_value=1, max_value=60),
    n=st.integers(min_value=1, max_value=60),
    k=st.integers(min_value=1, max_value=8),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_lobpcg_property(m, n, k, seed):
    # the default method on any shape and k: to the rounding floor, values normwise-stable
    a = torch.randn(m, n, generator=seeds.generator(seed), dtype=torch.float64)
    result = gdtutor.svd(a, min(k, m, n))
    # the relative residual's rounding floor (FLOOR_C; measured up to 4.7·max(m, n)·u here)
    assert result.converged and (result.residual < rounding_floor(a.shape, torch.float64)).all()
    check_against_torch(a, result)


def test_sign_convention_is_deterministic_and_harmless():
    a = matrices.seeded_rand(5, 3, seed=4, dtype=torch.float64)
    U, _S, Vh = gdtutor.svd(a)
    largest = U.gather(0, U.abs().argmax(dim=0, keepdim=True))
    assert (largest > 0).all()
    flipped_u, flipped_vh = sign_convention(-U, -Vh)
    assert torch.equal(flipped_u, U) and torch.equal(flipped_vh, Vh)  # sign flips are exact
    U2, _, _ = gdtutor.svd(a, seed=99)  # another start: the same answer
    # both within Wedin's bound floor·σ₁/gapᵢ of the exact vectors
    s = torch.linalg.svdvals(a)
    bound = 2 * rounding_floor(a.shape, torch.float64) * s[0] / wedin_gaps(s)
    assert ((U2 - U).abs().amax(dim=0) < bound).all()


def test_zero_matrix():
    U, S, _Vh = gdtutor.svd(torch.zeros(4, 3, dtype=torch.float64))
    assert torch.equal(S, torch.zeros(3, dtype=torch.float64))
    # orthonormalized random columns: k entries' worth of the floor (check_against_torch)
    assert metrics.orthogonality_error(U) < 3 * rounding_floor((4, 3), torch.float64)


# --- the 2020 scheme ---------------------------------------------------------------------------
def test_batched_2020_runs_follow_each_matrix_exactly():
    m1 = matrices.seeded_rand(5, 4, seed=314)
    m5 = matrices.seeded_rand(4, 3, seed=317)
    alone = gdtutor.svd(m1, method="2020", max_steps=200)
    together = svd_2020([m1, m5], max_steps=200)
    torch.testing.assert_close(together[0].losses, alone.losses, rtol=0, atol=0)
    torch.testing.assert_close(together[0].S, alone.S, rtol=0, atol=0)
    assert together[1].U.shape == (4, 3) and together[1].Vh.shape == (3, 3)


def test_2020_zero_trap():
    # M5's third d reaches 0, where the gradient 2 d (...) of d² vanishes: sigma_3 is lost.
    # A property of this matrix and the 2020 start (both fixed, never shifted): S₃ is zero to
    # float32's working precision, the floor c·max(m, n)·u·σ₁, while σ₃ is not
    m5 = matrices.seeded_rand(4, 3, seed=317)
    result = svd_2020([m5], max_steps=3000)[0]
    sigma = torch.linalg.svdvals(m5)
    floor = rounding_floor(m5.shape, torch.float32) * sigma[0]
    assert result.S[-1] < floor < sigma[-1]


def test_2020_adam_variant_and_batched_input():
    a = matrices.seeded_rand(2, 4, 3, seed=1)
    result = gdtutor.svd(a, method="2020-adam", max_steps=50)
    assert result.method == "2020-adam" and result.S.shape == (2, 3) and len(result.losses) == 51


# --- the optimizer -------------------------------------------------------------------------
def test_stiefel_sgd_keeps_columns_orthonormal():
    x = orthonormal_factor(torch.randn(7, 3, dtype=torch.float64, generator=seeds.generator(0)))
    target = torch.randn(7, 3, dtype=torch.float64, generator=seeds.generator(1))
    result = gdtutor.descend(
        lambda: -(x * target).sum(), [x], StiefelSGD([x], lr=0.1, momentum=0.5), max_steps=50
    )
    # the retraction re-orthonormalizes at every step, so rounding does not accumulate: the
    # k × k entries of XᵀX - I are each within the floor of one orthogonalization
    assert metrics.orthogonality_error(result.params[0]) < 3 * rounding_floor((7, 3), torch.float64)
    assert result.losses[-1] < result.losses[0]


@pytest.mark.parametrize(
    ("lr", "momentum", "message"),
    [(0.0, 0.0, "lr must be a finite positive number"), (0.1, 1.0, "momentum")],
)
def test_stiefel_sgd_rejects_bad_settings(lr, momentum, message):
    with pytest.raises(ValueError, match=message):
        StiefelSGD([torch.eye(2)], lr=lr, momentum=momentum)


# --- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"a": torch.tensor([[1.0, float("inf")]])}, ValueError, "NaN or Inf"),
        ({"a": torch.ones(0, 3)}, ValueError, "empty"),
        ({"a": torch.ones(2, 2, dtype=torch.complex64)}, TypeError, "real float32"),
        ({"a": torch.ones(3, 2), "k": 3}, ValueError, "k must be an integer from 1 to"),
        ({"a": torch.ones(3, 2), "k": 0}, ValueError, "k must be an integer from 1 to"),
        ({"a": torch.ones(3, 2), "k": 1, "method": "2020"}, ValueError, "thin SVD only"),
        ({"a": torch.ones(3, 2), "method": "jacobi"}, ValueError, "unknown method"),
    ],
)
def test_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        gdtutor.svd(**kwargs)


def test_svd_2020_bad_lists():
    with pytest.raises(ValueError, match="matrices is empty"):
        svd_2020([])
    with pytest.raises(ValueError, match="single matrix"):
        svd_2020([torch.ones(2, 3, 3)])


# --- entry point: options owned by each method, one meaning of tol, torch-like results --------
ALL_SVD_OPTIONS = {
    name
    for method in decomposition.METHODS.methods
    for name in decomposition.METHODS.options(method)
}


@pytest.mark.parametrize(
    ("method", "option"),
    [
        (method, option)
        for method in decomposition.METHODS.methods
        for option in [
            *sorted(ALL_SVD_OPTIONS - set(decomposition.METHODS.options(method))),
            "bogus",
        ]
    ],
)
def test_foreign_options_are_rejected_before_any_work(method, option):
    with (
        RefuseWork(),
        pytest.raises(TypeError, match=rf"svd\(method={method!r}\) does not take {option}"),
    ):
        gdtutor.svd(torch.ones(6, 6), method=method, **{option: 3})


@pytest.mark.parametrize("method", list(decomposition.METHODS.methods))
def test_each_svd_method_documents_its_options(method):
    text = gdtutor.show_options("svd", method)
    for name, default in decomposition.METHODS.options(method).items():
        assert f"{name}={default!r}" in text.splitlines()[0] and f"\n{name}\n" in text


def test_result_behaves_like_torchs_named_tuple():
    a = matrices.seeded_rand(5, 3, seed=4, dtype=torch.float64)
    result = gdtutor.svd(a)
    reference = torch.linalg.svd(a, full_matrices=False)
    assert len(result) == len(reference) == 3
    for i, name in enumerate(["U", "S", "Vh"]):
        assert result[i] is getattr(result, name) and reference[i] is getattr(reference, name)
    assert result[-1] is result.Vh and result[:2] == (result.U, result.S)
    U, S, Vh = result
    assert (U, S, Vh) == (result.U, result.S, result.Vh)
    with pytest.raises(IndexError):
        result[3]


def test_input_that_requires_grad_is_accepted():
    a = matrices.seeded_rand(4, 3, seed=1, dtype=torch.float64).requires_grad_()
    result = gdtutor.svd(a * 1.0)  # a non-leaf, as in a model
    assert not result.S.requires_grad
    # Weyl, as in check_against_torch
    sigma = torch.linalg.svdvals(a.detach())
    bound = rounding_floor(a.shape, torch.float64) * sigma[0].item()
    torch.testing.assert_close(result.S, sigma, rtol=0, atol=bound)


@pytest.mark.parametrize(
    ("method", "options", "tol"),
    [
        ("brockett", {"warm_start": 0}, 1e-9),
        ("lobpcg", {}, 1e-9),
        ("orthogonal-iteration", {}, 1e-9),
        ("2020", {}, 3e-2),
        ("2020-adam", {}, 3e-2),
    ],
)
def test_tol_is_the_relative_residual_of_the_triplets(method, options, tol):
    a = matrices.seeded_rand(5, 4, seed=314, dtype=torch.float64)
    result = gdtutor.svd(a, method=method, tol=tol, **options)
    U, S, Vh = result
    measured = metrics.svd_relative_residual(a, U, S, Vh)
    assert result.converged and "<= tol" in result.reason
    # the same measure, computed on the method's own (for the 2020 schemes padded and batched)
    # tensors: equal up to the rounding of the residual itself, the floor (relative to σ₁)
    floor = rounding_floor(a.shape, torch.float64)
    assert measured.item() == pytest.approx(result.residual.item(), rel=0, abs=floor)
    assert measured <= tol and bool(result.converged_each)


def test_svd_relative_residual_vanishes_at_singular_triplets_only():
    a = matrices.with_singular_values([3.0, 2.0, 1.0], shape=(5, 3), seed=2)
    exact = torch.linalg.svd(a, full_matrices=False)
    # LAPACK's SVD is backward stable: its triplets' residual is at the rounding floor
    floor = rounding_floor(a.shape, torch.float64)
    assert metrics.svd_relative_residual(a, *exact) < floor
    perturbed = exact.S + torch.tensor([0.0, 0.0, 3e-3], dtype=torch.float64)
    # σ₃ off by 3e-3: the pair's residual is √2 · 3e-3, relative to σ₁ = 3, up to that floor
    assert metrics.svd_relative_residual(a, exact.U, perturbed, exact.Vh).item() == pytest.approx(
        math.sqrt(2) * 3e-3 / 3, rel=0, abs=floor
    )
    batch = torch.stack([a, 2 * a])
    assert metrics.svd_relative_residual(
        batch, *torch.linalg.svd(batch, full_matrices=False)
    ).shape == (2,)


def test_brockett_evaluations_count_the_warm_start_and_every_product():
    a = matrices.seeded_rand(6, 4, seed=3, dtype=torch.float64)
    cold = gdtutor.svd(a, method="brockett", warm_start=0, max_steps=10)
    warm = gdtutor.svd(a, method="brockett", warm_start=5, max_steps=10)
    assert warm.evaluations - cold.evaluations == 2 * 5  # AV and AᵀU per warm-start step
    # 41 for the σ₁ estimate, AV per evaluation, AᵀU per gradient, 4 sweeps of 2 halves,
    # 1 to read off S and 2 for the final residual
    assert cold.evaluations == 41 + (cold.steps + 1) + cold.steps + 8 + 1 + 2
    checked = gdtutor.svd(
        a, method="brockett", warm_start=0, max_steps=10, tol=1e-30
    )  # 2 more per tol check
    assert checked.evaluations == cold.evaluations + 2 * (checked.steps + 1)


def test_svd_2020_counts_its_products_and_reports_each_residual():
    runs = svd_2020(
        [matrices.seeded_rand(5, 4, seed=314), matrices.seeded_rand(4, 3, seed=317)], max_steps=10
    )
    assert [r.evaluations for r in runs] == [3 * 11 + 4 * 10 + 2] * 2
    assert all(r.residual.shape == () for r in runs)
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adam'"):
        svd_2020([torch.eye(2)], optimizer="lbfgs")  # type: ignore[arg-type]


def test_bad_tol_for_svd():
    with pytest.raises(ValueError, match="tol must be a finite positive number"):
        gdtutor.svd(torch.eye(2), tol=0.0)


# --- LOBPCG ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(60, 40), (40, 60), (120, 30)])
def test_lobpcg_top_k_on_the_study_matrices(shape, dtype):
    # every spectrum kind of the robustness study (clustered, repeated, rank-deficient, ...), as
    # one batch: values to a modest multiple of u·σ₁ (normwise-stable), orthonormal factors
    batch = matrices.study_batch(shape, 12, generator=seeds.generator(7))
    result = gdtutor.svd(batch.to(dtype), 5, method="lobpcg")
    assert result.converged and result.U.shape == (12, shape[0], 5)
    assert result.Vh.shape == (12, 5, shape[1])
    reference = torch.linalg.svd(batch, full_matrices=False)
    floor = rounding_floor(shape, dtype)
    # Weyl and orthogonality as in check_against_torch
    assert metrics.singular_value_error(result.S.double(), reference.S[..., :5]) < floor
    assert metrics.orthogonality_error(result.U) < 5 * floor
    assert metrics.orthogonality_error(result.Vh.mT) < 5 * floor
    # the triplets' residual at the rounding floor, amplified by σ₁/σ₅ (uᵢ = Avᵢ/σᵢ carries
    # A's rounding, of size floor·σ₁, divided by σᵢ); measured up to 3·max(m, n)·u·σ₁/σ₅
    ratio = (reference.S[..., 0] / reference.S[..., 4]).to(result.residual.dtype)
    assert (result.residual < floor * ratio).all()


def test_lobpcg_on_a_large_flat_spectrum_counts_its_products():
    # Gaussian 2000×500: σ₁₀/σ₁₁ ≈ 1.004, where randomized SVD needs many power iterations
    a = torch.randn(2000, 500, dtype=torch.float64, generator=seeds.generator(1))
    result = gdtutor.svd(a, 10, method="lobpcg")
    reference = torch.linalg.svd(a, full_matrices=False)
    assert result.converged
    floor = rounding_floor(a.shape, torch.float64)
    assert metrics.singular_value_error(result.S, reference.S[:10]) < floor  # Weyl
    # Wedin: sin Θ ≤ floor·σ₁/(σ₁₀ - σ₁₁) for the top-10 subspace (ours and the reference's: 2)
    gap = (reference.S[9] - reference.S[10]).item()
    angle_bound = 2 * floor * reference.S[0].item() / gap
    assert metrics.largest_principal_angle(result.U, reference.U[:, :10]) < angle_bound
    # Knyazev's textbook cost: BR an iteration, 2 blocks (1 with A, 1 with Aᵀ); 2 for the start,
    # 1 for AX at the end, 2 for the residual; and 2 for each check, by a fresh BX, of a stop that
    # the carried images proposed (one if they did not drift; two allowed). The robust form,
    # B[X, R, P] afresh, would cost up to 6 an iteration.
    assert 2 + 2 * result.steps + 3 <= result.evaluations <= 2 + 2 * result.steps + 3 + 2 * 2


def test_lobpcg_full_thin_svd_is_one_rayleigh_ritz_step():
    # with the block as large as the matrix, the first Rayleigh-Ritz step is the whole answer:
    # a direct method, not an iteration
    a = matrices.seeded_rand(7, 5, seed=3, dtype=torch.float64)
    result = gdtutor.svd(a, method="lobpcg")
    assert result.steps == 0 and result.converged
    check_against_torch(a, result)


def test_lobpcg_is_the_default_and_reports_true_statements():
    a = matrices.with_singular_values(matrices.geometric_spectrum(80, 1e4), shape=(200, 80), seed=4)
    short = gdtutor.svd(a, 5, max_steps=2)
    assert short.method == "lobpcg" and short.steps == 2
    assert not short.converged and short.reason.startswith("reached max_steps=2")
    unmet = gdtutor.svd(a, 5, max_steps=2, tol=1e-12)
    assert not unmet.converged and "> tol" in unmet.reason and not unmet.converged_each
    met = gdtutor.svd(a, 5, tol=1e-8)
    assert met.converged and met.residual <= 1e-8 and f"{met.residual.item():.3g}" in met.reason


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lobpcg_with_k_beyond_the_rank_and_a_dominant_mean(dtype):
    # rank 3 with k = 6: three zero singular values, whose vectors are any orthonormal completion;
    # a uniform matrix: σ₁ (its mean) dwarfs the rest
    low_rank = matrices.with_singular_values(
        torch.tensor([3.0, 2.0, 1.0] + [0.0] * 37, dtype=torch.float64), shape=(50, 40), seed=2
    )
    uniform = torch.rand(300, 100, generator=seeds.generator(2), dtype=torch.float64)
    for a in (low_rank, uniform):
        result = gdtutor.svd(a.to(dtype), 6)
        assert result.converged
        # The rounding floor of the relative residual: forming A·v and Aᵀ·u alone errs by up to
        # γ_n ‖|A|‖ ≈ max(m, n)·u·σ₁ for this non-negative matrix (|A| = A); orthogonalization and
        # Rayleigh–Ritz add a modest factor: FLOOR_C = 20 (measured up to 6.8 across seeds and
        # machines).
        floor = rounding_floor(a.shape, dtype)
        check_against_torch(a.to(dtype), result, dtype, floor=floor)
        assert (result.residual < floor).all()


def test_orthogonal_iteration_counts_two_products_a_step():
    a = matrices.with_singular_values(matrices.geometric_spectrum(30, 1e3), shape=(50, 30), seed=1)
    result = gdtutor.svd(a, 4, method="orthogonal-iteration")
    assert result.converged and result.method == "orthogonal-iteration"
    check_against_torch(a, result)
    # AV and AᵀU a step, the next step's AV to check the last one, 2 for the final residual
    assert result.evaluations == 2 * result.steps + 1 + 2 + 2
    with pytest.raises(ValueError, match="max_steps must be a non-negative integer"):
        gdtutor.svd(a, method="orthogonal-iteration", max_steps=-1)


@pytest.mark.parametrize("method", ["lobpcg", "brockett", "orthogonal-iteration"])
@pytest.mark.parametrize("shape", [(40, 25), (25, 40)])
def test_callback_sees_every_iterate_and_the_work_so_far(method, shape):
    a = matrices.with_singular_values(matrices.geometric_spectrum(25, 1e2), shape=shape, seed=1)
    seen = []
    result = gdtutor.svd(
        a, 3, method=method, callback=lambda work, s, v: seen.append((work, s.clone(), v.clone()))
    )
    reference = torch.linalg.svd(a, full_matrices=False)
    assert len(seen) == result.steps + 1
    assert all(later[0] > earlier[0] for earlier, later in itertools.pairwise(seen))
    assert seen[-1][0] < result.evaluations
    _, s, v = seen[-1]
    assert s.shape == (3,) and v.shape == (shape[1], 3)
    # the last iterate passed the method's stopping rule, which at worst accepts a relative
    # residual (or scaled gradient) η = √ε that stopped improving: values within η·σ₁ (Weyl),
    # the top-3 subspace within η·σ₁/(σ₃ - σ₄) (Wedin)
    eta = math.sqrt(EPS[torch.float64])
    assert metrics.singular_value_error(s.abs(), reference.S[:3]) < eta
    gap = (reference.S[2] - reference.S[3]).item()
    angle_bound = eta * reference.S[0].item() / gap
    assert metrics.largest_principal_angle(v, reference.Vh[:3].mT) < angle_bound


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_2020_loop_follows_autograd_with_the_torch_optimizers(optimizer):
    # the written-out gradient and updates against autograd with torch.optim.SGD / Adam, over
    # 30 steps, on matrices of several shapes padded into one batch, in float64
    shapes = [(5, 4), (3, 3), (6, 2)]
    # Fixed, unshifted matrices (with the 2020 start, also fixed): the bound below assumes the
    # 30 steps do not expand errors, true for these; other draws can grow transiently with
    # lr = 0.9 and β = 0.9 (GDTUTOR_SEED_SHIFT=4: S off by 6.5e-12, three times the bound).
    generator = torch.Generator().manual_seed(0)
    mats = [torch.rand(*shape, dtype=torch.float64, generator=generator) for shape in shapes]
    # The two differ only in the order of operations: each step's gradient by γ_n·|terms| ≈ n·u
    # (n ≤ 6, entries of order 1); the momentum buffer sums such errors with weights up to
    # 1/(1 - β) = 10, and a non-expanding step does not amplify them, so over 30 steps they stay
    # below 30·6·u/(1 - β), with c = 10 for the sizes of the terms (measured up to 0.001 of it).
    drift = 10 * 30 * 6 * (EPS[torch.float64] / 2) / (1 - 0.9)
    batched = svd_2020(mats, optimizer=optimizer, max_steps=30)
    for a, result in zip(mats, batched, strict=True):
        m, n = a.shape
        start = torch.Generator().manual_seed(decomposition.SEED_2020)
        # drawn in float32, as the 2020 scheme does, then converted
        u = torch.rand(m, n, generator=start).double().requires_grad_()
        d = torch.rand(n, generator=start).double().requires_grad_()
        v = torch.rand(n, n, generator=start).double().requires_grad_()
        opt = (
            torch.optim.SGD([u, d, v], lr=0.9, momentum=0.9)
            if optimizer == "sgd"
            else torch.optim.Adam([u, d, v], lr=1e-3, weight_decay=1e-5)
        )
        losses = []
        for _ in range(30):
            opt.zero_grad()
            loss = decomposition.penalty_loss_2020(a, u, d, v)
            losses.append(loss.item())
            loss.backward()
            opt.step()
        s, order = torch.sort(d.detach().square(), descending=True)
        torch.testing.assert_close(result.S, s, rtol=0, atol=drift)
        torch.testing.assert_close(result.U, u.detach()[:, order], rtol=0, atol=drift)
        torch.testing.assert_close(
            result.losses[:30], torch.tensor(losses, dtype=torch.float64), rtol=drift, atol=0
        )


def test_2020_adam_weight_decay_per_matrix_equals_separate_runs():
    a = matrices.seeded_rand(5, 4, seed=314, dtype=torch.float64)
    together = svd_2020([a, a], optimizer="adam", weight_decay=[1e-5, 0.0], max_steps=200)
    with_decay = svd_2020([a], optimizer="adam", max_steps=200)[0]
    without = gdtutor.svd(a, method="2020-adam", weight_decay=0.0, max_steps=200)
    # the same operations on the same numbers, batched or not: at most the products' rounding
    # differs (γ_n ≈ n·u a step, n = 4), summed by the momentum with weights up to
    # 1/(1 - β₁) = 10 over 200 steps, c = 10 for the sizes of the terms (bitwise equal in practice)
    drift = 10 * 200 * 4 * (EPS[torch.float64] / 2) / (1 - 0.9)
    torch.testing.assert_close(together[0].S, with_decay.S, rtol=0, atol=drift)
    torch.testing.assert_close(together[1].S, without.S, rtol=0, atol=drift)
    assert not torch.equal(with_decay.S, without.S)
    with pytest.raises(ValueError, match="weight_decay is for optimizer='adam'"):
        svd_2020([a], weight_decay=1e-5)
    with pytest.raises(ValueError, match="one per matrix"):
        svd_2020([a], optimizer="adam", weight_decay=[1e-5, 0.0])


def test_2020_one_optimizer_per_matrix_and_divergence():
    a = matrices.seeded_rand(5, 4, seed=314)
    mixed = svd_2020([a, a], optimizer=["sgd", "adam"], max_steps=100)
    alone = [svd_2020([a], optimizer=name, max_steps=100)[0] for name in ("sgd", "adam")]
    for together, single in zip(mixed, alone, strict=True):
        torch.testing.assert_close(together.S, single.S, rtol=0, atol=0)
        assert together.method == single.method
    with pytest.raises(ValueError, match="one of them per matrix"):
        svd_2020([a, a], optimizer=["sgd"])
    with pytest.raises(TypeError, match="share one dtype"):
        svd_2020([a, a.double()])
    large = matrices.with_singular_values(
        matrices.geometric_spectrum(60, 1e3), shape=(150, 60), seed=1
    )
    with pytest.raises(gdtutor.descent.DivergenceError, match="at step"):
        svd_2020([large])


@pytest.mark.parametrize("shape", [(60, 40), (40, 60)])
def test_lobpcg_warm_start_from_a_nearby_matrix_saves_iterations(shape):
    a = matrices.with_singular_values(matrices.geometric_spectrum(40, 1e2), shape=shape, seed=3)
    first = gdtutor.svd(a, 4, tol=1e-10)
    assert gdtutor.svd(a, 4, tol=1e-10, start=first.Vh.mT).steps <= 1  # already there
    drifted = a + 1e-4 * torch.randn(shape, generator=seeds.generator(1), dtype=torch.float64)
    cold = gdtutor.svd(drifted, 4, tol=1e-10)
    warm = gdtutor.svd(drifted, 4, tol=1e-10, start=first.Vh.mT)
    assert warm.converged and warm.evaluations < cold.evaluations
    # Weyl: a relative residual of at most tol puts each value within tol·σ₁ of the exact one,
    # plus the reference's own rounding floor
    sigma = torch.linalg.svdvals(drifted)
    bound = (1e-10 + rounding_floor(shape, torch.float64)) * sigma[0].item()
    torch.testing.assert_close(warm.S, sigma[:4], rtol=0, atol=bound)
    with pytest.raises(
        ValueError, match=r"start must hold right singular vectors of A, shape \(\.\.\., "
    ):
        gdtutor.svd(drifted, 4, start=first.U)  # the wrong side


def sparse_gaussian(m, n, density, seed, dtype=torch.float64):
    """A dense matrix with about ``density·m·n`` Gaussian entries, the rest exactly zero."""
    generator = seeds.generator(seed)
    keep = torch.rand(m, n, generator=generator) < density
    return torch.where(keep, torch.randn(m, n, generator=generator, dtype=dtype), 0.0)


def csr(dense):
    with warnings.catch_warnings():  # torch calls its CSR support beta
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return dense.to_sparse_csr()


@pytest.mark.parametrize("layout", ["coo", "csr"])
@pytest.mark.parametrize("shape", [(300, 120), (120, 300)])
def test_svd_of_a_sparse_matrix_matches_the_dense_one(layout, shape):
    dense = sparse_gaussian(*shape, 0.1, seed=5)
    a = dense.to_sparse() if layout == "coo" else csr(dense)
    result = gdtutor.svd(a, 5)
    assert result.converged and result.U.shape == (shape[0], 5) and result.Vh.shape == (5, shape[1])
    check_against_torch(dense, result)  # values (Weyl) and orthogonality within the floor
    assert (result.residual < rounding_floor(shape, torch.float64)).all()


def test_sparse_products_are_the_products_of_the_given_matrix_to_the_bit():
    # stored with 32-bit indices (torch's CPU kernel converts 64-bit ones at every product)
    dense = sparse_gaussian(300, 120, 0.1, seed=5)
    products, checks = operators.as_products(dense.to_sparse())
    v, u = (
        torch.randn(size, 7, generator=seeds.generator(1), dtype=torch.float64)
        for size in (120, 300)
    )
    a = csr(dense)
    assert checks == 0
    assert torch.equal(products @ v, a @ v) and torch.equal(products.mT @ u, csr(dense.T) @ u)


def test_orthogonal_iteration_on_a_sparse_matrix():
    spectrum = matrices.geometric_spectrum(60, 1e3)  # σᵢ₊₁/σᵢ ≈ 0.89: a few hundred steps
    dense = matrices.with_singular_values(spectrum, shape=(90, 60), seed=5)
    result = gdtutor.svd(dense.to_sparse(), 3, method="orthogonal-iteration", tol=1e-9)
    assert result.converged and (result.residual <= 1e-9).all()
    check_against_torch(dense, result, floor=2e-9)  # Weyl: within the residual, times σ₁


def test_svd_of_a_linear_operator_never_forms_the_matrix():
    left = torch.randn(400, 12, generator=seeds.generator(6), dtype=torch.float64)
    right = torch.randn(12, 250, generator=seeds.generator(7), dtype=torch.float64)
    seen = []

    def matmul(v):
        seen.append(v.shape)
        return left @ (right @ v)

    a = gdtutor.LinearOperator((400, 250), matmul=matmul, rmatmul=lambda u: right.T @ (left.T @ u))
    result = gdtutor.svd(a, 4, tol=1e-10)
    assert result.converged and (result.residual <= 1e-10).all()
    check_against_torch(left @ right, result)
    assert all(shape[-1] <= 4 + 4 for shape in seen)  # blocks of the block size, never A itself
    # the same run on the dense product, plus the two single-vector products of the adjoint test
    assert result.evaluations == gdtutor.svd(left @ right, 4, tol=1e-10).evaluations + 2


def test_svd_with_k_beyond_a_sparse_matrix_rank():
    # rank 2 with k = 4: two zero singular values, whose vectors are any orthonormal completion
    dense = sparse_gaussian(200, 2, 0.5, seed=8) @ sparse_gaussian(2, 150, 0.5, seed=9)
    result = gdtutor.svd(dense.to_sparse(), 4)
    assert result.converged
    check_against_torch(dense, result)
    assert (result.S[2:] < rounding_floor(dense.shape, torch.float64) * result.S[0]).all()


def test_sparse_and_operator_input_errors():
    dense = sparse_gaussian(30, 20, 0.3, seed=10)
    good = gdtutor.LinearOperator(
        (30, 20), matmul=lambda v: dense @ v, rmatmul=lambda u: dense.T @ u
    )

    def operator(**changes):
        fields = {"shape": (30, 20), "matmul": good.matmul, "rmatmul": good.rmatmul} | changes
        return gdtutor.LinearOperator(**fields)

    with pytest.raises(ValueError, match="k is required"):
        gdtutor.svd(dense.to_sparse())
    with pytest.raises(ValueError, match="k must be an integer from 1 to min"):
        gdtutor.svd(good, 21)
    with pytest.raises(ValueError, match="needs A's entries"):
        gdtutor.svd(good, 3, method="brockett")
    with pytest.raises(TypeError, match="COO or CSR"):
        gdtutor.svd(dense.to_sparse_csc(), 3)
    with pytest.raises(ValueError, match="2-D matrix of scalars"):
        gdtutor.svd(torch.stack([dense, dense]).to_sparse(), 3)
    with pytest.raises(ValueError, match="2-D matrix of scalars"):
        gdtutor.svd(dense.unsqueeze(-1).to_sparse(2), 3)  # hybrid: a vector per entry
    with pytest.raises(TypeError, match="dtype"):
        gdtutor.svd(dense.to(torch.int64).to_sparse(), 3)
    with pytest.raises(ValueError, match="NaN or Inf"):
        gdtutor.svd(torch.where(dense != 0, math.nan, 0.0).to_sparse(), 3)
    with pytest.raises(ValueError, match="empty or all zero"):
        gdtutor.svd(torch.zeros(30, 20, dtype=torch.float64).to_sparse(), 3)
    with pytest.raises(ValueError, match="two positive integers"):
        gdtutor.svd(operator(shape=(30, 0)), 3)
    with pytest.raises(TypeError, match=r"float32 or torch\.float64"):
        gdtutor.svd(operator(dtype=torch.int64), 3)
    with pytest.raises(ValueError, match="failed for V of shape"):
        gdtutor.svd(operator(shape=(30, 21)), 3)  # the function cannot multiply a 21-vector
    with pytest.raises(ValueError, match="must be a tensor of shape"):
        gdtutor.svd(operator(matmul=lambda v: (dense @ v)[:-1]), 3)
    with pytest.raises(TypeError, match=r"returned dtype torch\.float32"):
        gdtutor.svd(operator(matmul=lambda v: (dense @ v).float()), 3)
    with pytest.raises(ValueError, match="NaN or Inf"):
        gdtutor.svd(operator(matmul=lambda v: dense @ v * math.nan), 3)
    with pytest.raises(ValueError, match="not the transpose"):
        gdtutor.svd(operator(rmatmul=lambda u: 2 * dense.T @ u), 3)


def test_lobpcg_multiplies_afresh_once_carried_images_drift():
    # Products that differ from call to call by 1e-9 relative, far above the rounding floor: the
    # residual from carried images falls below tol = 1e-9 before the true one does (it cannot:
    # the products' noise holds it near 2e-9); the fresh BX that checks the proposed stop
    # measures the drift, and from then on every block is multiplied afresh.
    a = torch.randn(300, 100, generator=seeds.generator(11), dtype=torch.float64)
    noise = seeds.generator(12)

    def noisy(product):
        return product * (
            1 + 1e-9 * torch.randn(product.shape, generator=noise, dtype=product.dtype)
        )

    operator = gdtutor.LinearOperator(
        (300, 100), matmul=lambda v: noisy(a @ v), rmatmul=lambda u: noisy(a.T @ u)
    )
    work = []
    result = gdtutor.svd(
        operator, 5, tol=1e-9, max_steps=60, callback=lambda e, s, v: work.append(e)
    )
    assert not result.converged and "> tol" in result.reason  # the stop was refused, rightly
    per_iteration = [later - earlier for earlier, later in itertools.pairwise(work)]
    assert per_iteration[0] == 2 and per_iteration[-1] == 6  # BR; then B[X, P] afresh as well
    assert set(per_iteration) <= {2, 6}


def test_lobpcg_on_a_formed_gram_matrix():
    # Gaussian 2000×500, top 10: the same answer from B = AᵀA formed once (the final
    # Rayleigh–Ritz step on A itself keeps the floor), counted as ⌈500/15⌉ products to form it
    # and one per product with B
    a = torch.randn(2000, 500, dtype=torch.float64, generator=seeds.generator(1))
    result = gdtutor.svd(a, 10, form_gram=True)
    assert result.converged
    check_against_torch(a, result)
    assert (result.residual < rounding_floor(a.shape, torch.float64)).all()
    assert result.evaluations <= math.ceil(500 / 15) + 1 + result.steps + 2 + 3
    with pytest.raises(ValueError, match="needs a dense A"):
        gdtutor.svd(a.to_sparse(), 10, form_gram=True)


def test_lobpcg_keeps_x_and_p_orthonormal_on_a_tight_cluster():
    # 30 values 1e-5 apart at the top, float32, tol 1e-5: with P's coefficients on dropped
    # directions not zeroed, [X, P] lost orthogonality (to 0.2) and the run stalled for 3000 steps
    generator = seeds.generator(0)
    spectrum = (
        torch.cat(
            [
                1 - 1e-5 * torch.arange(30, dtype=torch.float64),
                0.9 * torch.rand(170, generator=generator, dtype=torch.float64),
            ]
        )
        .sort(descending=True)
        .values
    )
    a = matrices.with_singular_values(spectrum, shape=(300, 200), seed=1).float()
    result = gdtutor.svd(a, 10, tol=1e-5, max_steps=1000)
    assert result.converged and (result.residual <= 1e-5).all() and result.steps < 1000


@pytest.mark.parametrize(
    "a, k, tol",
    [
        (
            torch.randn(100, 40, dtype=torch.float64, generator=seeds.generator(13)),
            10,
            1e-15,
        ),  # below the floor
        (torch.zeros(30, 20, dtype=torch.float64), 3, 1e-8),
        (
            matrices.with_singular_values(
                torch.tensor([3.0, 2, 1, 0.5, 0.2] + [0.0] * 35, dtype=torch.float64),
                shape=(50, 40),
                seed=2,
            ),
            7,
            1e-8,
        ),
    ],
)
def test_lobpcg_with_every_pair_locked_returns_what_it_has(a, k, tol):
    # once every pair is at its floor or within tol there is nothing left to search: the run ends
    # and reports the residual of what it returns against tol (it used to raise an IndexError)
    result = gdtutor.svd(a, k, tol=tol)
    assert result.converged == bool((result.residual <= tol).all())
    assert metrics.singular_value_error(result.S, torch.linalg.svdvals(a)[:k]) < rounding_floor(
        a.shape, torch.float64
    )


def test_lobpcg_options_and_operator_gradients():
    a = torch.randn(30, 20, dtype=torch.float64, generator=seeds.generator(14))
    for guard in (-1, 0.5, True):
        with pytest.raises(ValueError, match="guard must be a non-negative integer"):
            gdtutor.svd(a, 3, guard=guard)
    weights = a.clone().requires_grad_()
    operator = gdtutor.LinearOperator(
        (30, 20), matmul=lambda v: weights @ v, rmatmul=lambda u: weights.T @ u
    )
    result = gdtutor.svd(operator, 3)
    assert not (result.U.requires_grad or result.S.requires_grad or result.Vh.requires_grad)
