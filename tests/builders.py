"""Real config objects and engines for in-process tests (the fleet data itself comes from
``harness.configs``)."""

from pathlib import Path
from typing import Any

from harness.configs import embedding_model_raw, smol_only_raw
from router.config import SwitchboardConfig
from router.config_loader import parse_config
from router.model_config import LocalModelConfig
from serving.transformers_engine import TransformersEngine


def smol_only_config(**model_overrides: Any) -> SwitchboardConfig:
    return parse_config(smol_only_raw(**model_overrides))


def minilm_model() -> LocalModelConfig:
    """The default fleet's embedding model, as configured."""
    return LocalModelConfig.model_validate(embedding_model_raw())


def load_smol_engine(model_dir: Path, max_output_tokens: int) -> TransformersEngine:
    """The real small model with the default fleet's engine settings and a chosen cap on
    output tokens (a small cap keeps valid requests cheap in tests)."""
    model = smol_only_config().models[0]
    return TransformersEngine.load(
        model_dir,
        context_window=model.context_window,
        max_output_tokens=max_output_tokens,
        args=model.transformers,
    )
