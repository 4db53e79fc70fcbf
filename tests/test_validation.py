import numpy as np
import pytest
import torch

from gdtutor._validation import as_float_tensor


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_tensors_pass_through_unchanged(dtype):
    a = torch.ones(2, 3, dtype=dtype)
    converted = as_float_tensor(a)
    assert converted.dtype == dtype and converted.data_ptr() == a.data_ptr()  # no copy


def test_tensors_that_require_grad_are_detached():
    a = torch.ones(2, 2, requires_grad=True)
    converted = as_float_tensor(a * 2)
    assert not converted.requires_grad and converted.grad_fn is None


def test_array_likes_and_integers_become_float64():
    assert as_float_tensor(np.eye(2)).dtype == torch.float64
    converted = as_float_tensor([[1, 2], [3, 4]])
    assert converted.dtype == torch.float64
    assert torch.equal(converted, torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (torch.ones(2, 2, dtype=torch.bool), "dtype torch.bool"),
        (torch.ones(2, 2, dtype=torch.complex64), "real float32 or float64"),
        (torch.ones(2, 2, dtype=torch.float16), "too imprecise"),
        (torch.full((2, 2), 2**60, dtype=torch.int64), "beyond 2\\*\\*53"),
        ("not a matrix", "array-like of numbers"),
    ],
)
def test_unsupported_types_are_rejected_with_advice(value, message):
    with pytest.raises(TypeError, match=message):
        as_float_tensor(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (torch.ones(3), "at least 2 dimensions"),
        (torch.ones(0, 3), "empty"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), "1 NaN or Inf"),
        (torch.tensor([[float("inf"), 1.0], [0.0, float("-inf")]]), "2 NaN or Inf"),
    ],
)
def test_bad_values_are_rejected(value, message):
    with pytest.raises(ValueError, match=message):
        as_float_tensor(value)


def test_error_messages_use_the_argument_name():
    with pytest.raises(ValueError, match=r"^B must"):
        as_float_tensor(torch.ones(3), name="B")
