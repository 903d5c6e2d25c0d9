"""The classifier's runtime tests fit small problems on the shared synthetic labels."""

import pytest


@pytest.fixture(scope="module", autouse=True)
def fits_on_one_thread(one_torch_thread: None) -> None:
    """Every module here fits small problems (``one_torch_thread``)."""
