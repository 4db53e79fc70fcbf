"""Every option of every method is checked before any work, the same way in every method."""

import math

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import gdtutor
from gdtutor._methods import _TABLES

#: What counts as work: a product or a factorisation. Checking the input (sums, finiteness) is not.
WORK = ("matmul", "mm", "bmm", "addmm", "baddbmm", "sampled_addmm", "randn", "rand")


class RefuseWork(TorchFunctionMode):
    """Fails the test at the first product, factorisation or random draw."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        module = getattr(func, "__module__", "") or ""
        linalg = name.startswith("linalg_") or module.startswith(
            ("torch.linalg", "torch._C._linalg")
        )
        if name.strip("_") in (*WORK, "rmatmul") or linalg:
            pytest.fail(f"{name} ran before the options were checked")
        return func(*args, **(kwargs or {}))


def call(entry, method, options):
    y = torch.ones(6, 5, dtype=torch.float64)
    if entry == "inverse":
        return gdtutor.inverse(torch.eye(5, dtype=torch.float64), method, **options)
    if entry == "svd":
        k = None if method.startswith("2020") else 2  # the 2020 schemes: the thin SVD only
        return gdtutor.svd(y, k, method=method, **options)
    y[0, 0] = math.nan
    return gdtutor.complete(y, rank=1, method=method, **options)


#: Values each kind of option must refuse, and the error they must raise.
BAD = {
    "max_steps": [(-1, ValueError), (2.5, ValueError), (True, ValueError)],
    "warm_start": [(-1, ValueError)],
    "guard": [(-1, ValueError), (1.5, ValueError)],
    "lr": [(0.0, ValueError), (-0.1, ValueError), (math.nan, ValueError), (math.inf, ValueError)],
    "momentum": [(1.0, ValueError), (-0.5, ValueError)],
    "weight_decay": [(-1e-3, ValueError), (math.nan, ValueError)],
    "seed": [(1.5, TypeError), ("0", TypeError)],
    "progress": [("yes", TypeError)],
    "scaled": [("yes", TypeError)],
    "form_gram": [(1, TypeError)],
    "callback": [(3, TypeError)],
    "init": [("bogus", ValueError)],
    "optimizer": [("bogus", ValueError)],
    "scheduler": [(3, TypeError)],
    "start": [("bogus", TypeError)],
}

CASES = [
    pytest.param(entry, method, option, value, error, id=f"{entry}-{method}-{option}={value!r}")
    for entry, table in _TABLES.items()
    for method in table.methods
    for option in table.options(method)
    for value, error in BAD[option]
]


@pytest.mark.parametrize(("entry", "method", "option", "value", "error"), CASES)
def test_a_bad_option_is_refused_before_any_work(entry, method, option, value, error):
    with RefuseWork(), pytest.raises(error, match=option):
        call(entry, method, {option: value})


def test_every_option_of_every_method_is_covered():
    options = {o for table in _TABLES.values() for m in table.methods for o in table.options(m)}
    assert options == set(BAD)


@pytest.mark.parametrize(
    "work",
    [
        lambda: torch.ones(2, 2) @ torch.ones(2, 2),
        lambda: torch.linalg.svdvals(torch.eye(2)),
        lambda: torch.linalg.vector_norm(torch.ones(2)),
        lambda: torch.randn(2),
    ],
)
def test_refuse_work_notices_work(work):
    with pytest.raises(pytest.fail.Exception), RefuseWork():
        work()


def as_numpy(value):
    """A default as NumPy would hand it over (np.int64, np.float64), other values as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return np.int64(value) if isinstance(value, int) else np.float64(value)


@pytest.mark.parametrize(
    ("entry", "method"), [(entry, m) for entry, table in _TABLES.items() for m in table.methods]
)
def test_numpy_numbers_are_accepted_as_options(entry, method):
    options = {name: as_numpy(default) for name, default in _TABLES[entry].options(method).items()}
    options["max_steps"] = np.int64(3)
    result = call(entry, method, options)
    assert result.steps <= 3
    assert type(result.steps) is int and type(result.evaluations) is int


def test_numpy_numbers_are_accepted_as_the_entry_points_arguments():
    a = torch.randn(12, 8, dtype=torch.float64)
    result = gdtutor.svd(a, np.int64(2), tol=np.float32(1e-6))
    assert result.S.shape == (2,) and result.converged
    square = a[:8] + 8 * torch.eye(8, dtype=torch.float64)
    assert gdtutor.inverse(square, tol=np.float64(1e-10), pseudo=np.False_).converged
    y = a.clone()
    y[0, 0] = math.nan
    completed = gdtutor.complete(y, np.int64(2), ridge=np.float64(0.1), tol=np.float32(1e-6))
    assert completed.left.shape == (12, 2)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"pseudo": "no"}, TypeError, "pseudo must be True or False"),
        ({"pseudo": 1}, TypeError, "pseudo must be True or False"),
        ({"tol": True}, ValueError, "tol must be a finite positive number"),
    ],
)
def test_the_entry_points_own_arguments_are_checked(arguments, error, message):
    with RefuseWork(), pytest.raises(error, match=message):
        gdtutor.inverse(torch.eye(3, dtype=torch.float64), **arguments)


@pytest.mark.parametrize("k", [True, 2.0, np.float64(2.0)])
def test_k_must_be_an_integer(k):
    with RefuseWork(), pytest.raises(ValueError, match="k must be a non-negative integer"):
        gdtutor.svd(torch.ones(4, 3, dtype=torch.float64), k)


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1])
def test_a_seed_out_of_range_is_named(seed):
    with RefuseWork(), pytest.raises(ValueError, match="seed must be a signed 64-bit integer"):
        gdtutor.svd(torch.ones(4, 3, dtype=torch.float64), 2, seed=seed)


@pytest.mark.parametrize("method", ["lobpcg", "orthogonal-iteration"])
def test_an_operator_is_not_called_before_the_options_are_checked(method):
    def refuse(block):
        pytest.fail("the operator was called before the options were checked")

    operator = gdtutor.LinearOperator((6, 5), matmul=refuse, rmatmul=refuse)
    with RefuseWork(), pytest.raises(ValueError, match="max_steps"):
        gdtutor.svd(operator, 2, method=method, max_steps=-1)
