import pytest

from gdtutor.report import best_time, markdown_table


def test_markdown_table_formats_cells():
    table = markdown_table(
        ["method", "steps", "error"], [["gd", 612, 9.9e-7], ["ns", 14, 1.25e-7]], ["", "d", ".1e"]
    )
    assert table.splitlines() == [
        "| method | steps | error |",
        "|---|---|---|",
        "| gd | 612 | 9.9e-07 |",
        "| ns | 14 | 1.2e-07 |",
    ]


def test_floats_default_to_three_significant_digits():
    assert markdown_table(["x"], [[1 / 3]]).splitlines()[-1] == "| 0.333 |"


def test_shape_errors():
    with pytest.raises(ValueError, match="one format per column"):
        markdown_table(["a", "b"], [], ["d"])
    with pytest.raises(ValueError, match="has 1 cells for 2 columns"):
        markdown_table(["a", "b"], [[1]])


def test_best_time_returns_the_minimum_and_the_result():
    calls = []
    seconds, result = best_time(lambda: calls.append(1) or len(calls), repeat=3)
    assert result == 3 and len(calls) == 3 and 0 <= seconds < 1
    with pytest.raises(ValueError, match="at least 1"):
        best_time(lambda: None, repeat=0)
