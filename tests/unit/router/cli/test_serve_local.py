from pathlib import Path

import pytest

from harness.configs import MODELS_YAML
from router.cli.serve_local import _check_environment
from router.config_errors import ConfigError
from router.config_loader import load_config


def test_external_provider_without_its_model_env_fails_before_deploying(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_EXTERNAL_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("SWITCHBOARD_EXTERNAL_MODEL", raising=False)
    with pytest.raises(ConfigError) as info:
        _check_environment(load_config(MODELS_YAML), source="models.yaml")
    assert "SWITCHBOARD_EXTERNAL_MODEL" in str(info.value)


def test_missing_key_file_fails_before_deploying(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SWITCHBOARD_API_KEYS_FILE", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="absent"):
        _check_environment(load_config(MODELS_YAML), source="models.yaml")


def test_default_environment_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SWITCHBOARD_EXTERNAL_BASE_URL", "SWITCHBOARD_API_KEYS_FILE"):
        monkeypatch.delenv(name, raising=False)
    # On transformers: this is about the variables, and holds without vLLM installed too.
    _check_environment(load_config(MODELS_YAML, engine="transformers"), source="models.yaml")


def test_a_vllm_fleet_without_vllm_fails_before_deploying_and_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("router.cli.serve_local.find_spec", lambda name: None)
    with pytest.raises(ConfigError) as info:
        _check_environment(load_config(MODELS_YAML), source="models.yaml")
    assert "(vllm) is not installed" in str(info.value) and "--engine transformers" in str(
        info.value
    )
    _check_environment(load_config(MODELS_YAML, engine="transformers"), source="models.yaml")
