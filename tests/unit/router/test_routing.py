import pytest

from router.config import RouterSettings
from router.errors import ModelNotFound, ServiceUnavailable
from router.routing import ModelResolver, RouteDecision

SETTINGS = RouterSettings(default_model="small", aliases=["auto", "fast"])


def test_concrete_id_is_pinned() -> None:
    resolver = ModelResolver(SETTINGS, available=["small", "large"])
    assert resolver.resolve("large") == RouteDecision("large", "pinned")


@pytest.mark.parametrize("alias", ["auto", "fast"])
def test_alias_goes_to_default(alias: str) -> None:
    resolver = ModelResolver(SETTINGS, available=["small", "large"])
    assert resolver.resolve(alias) == RouteDecision("small", "default")


@pytest.mark.parametrize("name", ["gpt-4o", "external", "Small", ""])
def test_unknown_or_disabled_model_is_404(name: str) -> None:
    resolver = ModelResolver(SETTINGS, available=["small", "large"])
    with pytest.raises(ModelNotFound) as info:
        resolver.resolve(name)
    assert info.value.status == 404
    assert info.value.param == "model"


def test_alias_to_a_disabled_default_is_503() -> None:
    """E.g. the default is the external provider and its env vars are unset."""
    resolver = ModelResolver(SETTINGS, available=["large"])
    with pytest.raises(ServiceUnavailable):
        resolver.resolve("auto")
