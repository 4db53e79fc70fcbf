import json
import math

import pytest
import torch

from gdtutor import _sweep, matrices, seeds
from gdtutor._ledger import ClaimAnchors
from gdtutor.claims import MIME_TYPE, MODE_VARIABLE, ClaimFailed, claim, evaluate


@pytest.mark.parametrize(
    ("value", "relation", "bound", "margin"),
    [
        (1e-12, "<", 1e-10, 100.0),  # b / v
        (2e-10, "<=", 2e-10, 1.0),  # on the bound: holds, no room left
        (5.0, ">", 2.0, 2.5),  # v / b
        (-5.0, "<", -2.0, 2.5),  # a slope below -2: v / b
        (-1.0, ">", -4.0, 4.0),  # a slope above -4: b / v
        (0.0, "<", 1e-3, math.inf),  # zero under a positive bound
        (3.0, ">", -1.0, math.inf),  # a positive value over a negative bound
    ],
)
def test_margin_is_how_far_the_value_is_from_failing(value, relation, bound, margin):
    result = evaluate("x", value, relation, bound, because="test")
    assert result.holds and result.margin == pytest.approx(margin, rel=1e-12)


def test_within_margin_is_the_tolerance_over_the_deviation():
    assert evaluate("x", -2.1, "within", -2.0, tolerance=0.2, because="t").margin == pytest.approx(
        2
    )
    assert evaluate("x", 7, "within", 7, tolerance=1, because="t").margin == math.inf


def test_a_tensor_claim_records_its_worst_element():
    result = evaluate(
        "x", torch.tensor([1.0, 4.0, 3.0]), "<", torch.tensor([10.0, 8.0, 30.0]), because="t"
    )
    assert (result.value, result.bound, result.margin) == (4.0, 8.0, 2.0)


def test_exact_claims_have_no_margin():
    assert evaluate("count", 4041, "==", 4041, because="t").exact
    values = torch.tensor([0.1, 0.2], dtype=torch.float64)
    same = evaluate("bits", values, "==", values.clone(), because="t")
    assert same.holds and same.margin == math.inf and same.value == 0.0
    with pytest.raises(ClaimFailed, match="exact"):
        claim("bits", values, "==", values + torch.tensor([0.0, 2**-50]), because="t")


@pytest.mark.parametrize(
    ("value", "relation", "bound"),
    [(5.13e-12, "<", 4.23e-12), (2.0, "<", 2.0), (1.0, ">", 1.0), (0.5, "within", 0.0)],
)
def test_a_false_claim_stops_the_page_and_says_why(value, relation, bound):
    tolerance = 0.1 if relation == "within" else None
    with pytest.raises(ClaimFailed, match=r"FAILS: the claim.*because the theory"):
        claim("the claim", value, relation, bound, because="the theory", tolerance=tolerance)


def test_a_nan_value_fails_and_says_so():
    with pytest.raises(ClaimFailed, match="NaN"):
        claim("gradient is huge", float("nan"), ">", 1e12, because="t")


def test_record_mode_records_a_failure_and_goes_on(monkeypatch):
    assert evaluate("x", 3.0, "<", 2.0, because="t").margin == 0.0
    monkeypatch.setenv(MODE_VARIABLE, "record")
    claim("x", 3.0, "<", 2.0, because="t")  # no error
    monkeypatch.setenv(MODE_VARIABLE, "loud")
    with pytest.raises(ValueError, match=r"GDTUTOR_CLAIMS must be 'raise'.*or 'record'"):
        claim("x", 3.0, "<", 2.0, because="t")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"relation": "≈"}, "relation must be one of"),
        ({"because": " "}, "needs a reason"),
        ({"tolerance": 0.1}, "tolerance= goes with"),
        ({"relation": "within"}, "tolerance= goes with"),
        ({"value": torch.tensor([])}, "empty"),
    ],
)
def test_bad_claims_are_refused_before_checking(kwargs, message):
    arguments = {"value": 1.0, "relation": "<", "bound": 2.0, "because": "t"} | kwargs
    with pytest.raises(ValueError, match=message):
        claim("x", **arguments)


def test_the_record_is_json_without_infinities():
    record = evaluate("x", 0.0, "<", 1.0, because="t", reproduces="2020 post, part 2").record()
    assert json.loads(json.dumps(record, allow_nan=False))["margin"] == "inf"
    assert record["reproduces"] == "2020 post, part 2" and not record["exact"]


def test_a_claim_becomes_an_anchor_carrying_its_record():
    from myst_nb.core.render import MimeData

    record = evaluate("x", 1.0, "<", 2.0, because="t").record()
    nodes = ClaimAnchors.handle_mime(
        None, MimeData(MIME_TYPE, record, cell_index=4, output_index=1), False
    )
    (target,) = nodes
    assert target["ids"] == ["claim-4-1"] and target["gdtutor_claim"]["statement"] == "x"
    assert ClaimAnchors.handle_mime(None, MimeData("text/plain", "x"), False) is None


def test_seed_shift(monkeypatch):
    monkeypatch.delenv(seeds.SHIFT_VARIABLE, raising=False)
    assert seeds.shifted(7) == 7
    unshifted = matrices.with_singular_values([2.0, 1.0], seed=3)
    draw_2020 = matrices.seeded_rand(2, 2)
    monkeypatch.setenv(seeds.SHIFT_VARIABLE, "3")
    assert seeds.shifted(7) == 10
    assert torch.equal(matrices.with_singular_values([2.0, 1.0], seed=0), unshifted)
    assert torch.equal(matrices.seeded_rand(2, 2), draw_2020)  # the 2020 draw is never shifted
    assert torch.equal(
        torch.rand(3, generator=seeds.generator(0)),
        torch.rand(3, generator=torch.Generator().manual_seed(3)),
    )


def test_bad_seed_shift_and_seeds(monkeypatch):
    monkeypatch.setenv(seeds.SHIFT_VARIABLE, "1.5")
    with pytest.raises(ValueError, match=r"GDTUTOR_SEED_SHIFT must be an integer.*'1.5'"):
        seeds.shifted(0)
    monkeypatch.delenv(seeds.SHIFT_VARIABLE)
    with pytest.raises(TypeError, match="a seed is an int"):
        seeds.generator(2.0)


def test_sweep_reports_the_smallest_margin_and_every_failure():
    def run(margin, holds=True, error=None):
        record = {"statement": "s", "exact": False, "margin": margin, "holds": holds}
        return {"claims": {"claim-1-0": record}, "error": error, "stderr": []}

    report = _sweep.summarize(
        {
            "a": {"part1": run(4.0)},
            "b": {"part1": run(2.0)},
            "c": {"part1": run(0.0, holds=False), "part2": run("inf", error="KeyError: x")},
        }
    )
    part1 = next(entry for entry in report["claims"] if entry["page"] == "part1")
    assert part1["smallest_margin"] == 0.0 and part1["failed_under"] == ["c"]
    assert len(report["problems"]) == 2 and any("KeyError" in p for p in report["problems"])
    assert set(_sweep.CI_VARIATIONS) <= set(_sweep.VARIATIONS)
