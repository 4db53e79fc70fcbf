import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

#: Machine epsilon per dtype: tolerances below are multiples of it, justified where they are used.
EPS = {torch.float32: torch.finfo(torch.float32).eps, torch.float64: torch.finfo(torch.float64).eps}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
