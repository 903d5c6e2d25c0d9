"""Each test that takes ``manifests`` or ``rayservice`` runs once per overlay."""

import pytest

from tests.k8s.manifests import OVERLAYS, Manifest, render, the_one


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def manifests(overlay: str) -> list[Manifest]:
    return render(overlay)


@pytest.fixture(scope="module")
def rayservice(manifests: list[Manifest]) -> Manifest:
    return the_one(manifests, "RayService")
