"""Microsoft's ids as the portal's forms and flows accept them: the one check all of them use."""

from __future__ import annotations

import pytest

from microsoft.identity import is_guid

DIRECTORY = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.mark.parametrize("value", [DIRECTORY, DIRECTORY.upper()])
def test_the_form_microsoft_shows_is_a_guid(value: str) -> None:
    assert is_guid(value)


@pytest.mark.parametrize(
    "value",
    [
        "{" + DIRECTORY + "}",  # uuid.UUID takes these three; Microsoft never writes them
        "urn:uuid:" + DIRECTORY,
        DIRECTORY.replace("-", ""),
        DIRECTORY + "\n",
        "contoso.onmicrosoft.com",
        "",
    ],
)
def test_other_spellings_are_not(value: str) -> None:
    assert not is_guid(value)
