import pytest

from accounts.services import statistics_due


@pytest.mark.parametrize(
    ("before", "after", "due"),
    [
        (0, 999, False),
        (0, 1000, True),
        (1000, 1999, False),
        (1999, 2000, True),
        (5000, 7999, False),
        (7999, 8000, True),
    ],
)
def test_the_users_tables_are_analyzed_each_time_a_runs_created_users_double(
    before: int, after: int, due: bool
) -> None:
    assert statistics_due(before, after) is due
