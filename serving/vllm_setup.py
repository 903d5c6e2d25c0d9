"""Starting vLLM's engine: the environment its CPU build reads, the stat logger that
feeds ``LoadGauge``, the scheduler snapshot behind ``VllmEngine.stats``, and, inside Ray,
vLLM's own metrics exported through Ray's metrics agent.

Like ``serving.vllm_engine``, this module imports vLLM only inside functions.
"""

import importlib
import inspect
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serving.config import VllmEngineArgs
from serving.engine import EngineStats
from serving.errors import EngineUnavailable

logger = logging.getLogger(__name__)


class LoadGauge:
    """The latest scheduler snapshot. vLLM's output handler writes it on the engine's event
    loop after every engine step; ``VllmEngine.stats`` reads it on the same loop."""

    def __init__(self) -> None:
        self.snapshot: EngineStats | None = None
        self.max_running: int | None = None  # the scheduler's max_num_seqs, once started
        self.preemptions = 0

    def record(self, scheduler_stats: Any, iteration_stats: Any) -> None:
        # SchedulerStats and IterationStats of 0.26 and 0.32 alike (kv_cache_usage:
        # gpu_cache_usage before 0.9). Either may be None on a step.
        if iteration_stats is not None:
            self.preemptions += int(iteration_stats.num_preempted_reqs)
        if scheduler_stats is None:
            return
        self.snapshot = EngineStats(
            time.time(),
            running=int(scheduler_stats.num_running_reqs),
            waiting=int(scheduler_stats.num_waiting_reqs),
            kv_cache_usage=float(scheduler_stats.kv_cache_usage),
            max_running=self.max_running,
            preemptions=self.preemptions,
        )

    def stats(self, in_flight: int) -> EngineStats:
        """The engine's load, with ``in_flight`` requests of its caller's. vLLM reports only
        when it steps: with nothing in flight it is idle, and that is known now (a stale
        idle snapshot would read as saturated to the router)."""
        if self.snapshot is not None and in_flight > 0:
            return self.snapshot
        return EngineStats(
            time.time(),
            0,
            0,
            kv_cache_usage=0.0,
            max_running=self.max_running,
            preemptions=self.preemptions,
        )


class EngineLifecycle:
    """Health and shutdown of a started vLLM engine, for the engines built on one."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._closed = False

    async def check_health(self) -> None:
        if self._closed:
            raise EngineUnavailable("the engine is shut down")
        try:
            await self._engine.check_health()
        except Exception as exc:
            raise EngineUnavailable(f"the vLLM engine is unhealthy: {exc!r}") from exc

    def close(self) -> None:
        """Stop vLLM and its EngineCore process; later calls get ``EngineUnavailable``."""
        if not self._closed:
            self._closed = True
            self._engine.shutdown()


def start_engine(
    model_dir: Path, context_window: int, args: VllmEngineArgs, name: str | None, **extra: Any
) -> tuple[Any, LoadGauge]:
    """vLLM's engine (its EngineCore runs in a spawned process) on a model folder, serving
    ``context_window`` tokens, and the gauge its stats go to; ``name``: the model id its
    metrics carry as ``model_name`` (default: the folder); ``extra``: more engine args
    (``runner="pooling"`` for an embedding model)."""
    set_cpu_env(args)  # read when the engine is configured: set them first
    vllm = importlib.import_module("vllm")
    gauge = LoadGauge()
    kwargs = _engine_kwargs(model_dir, context_window, args, name) | extra
    engine = vllm.AsyncLLMEngine.from_engine_args(
        vllm.AsyncEngineArgs(**kwargs), stat_loggers=stat_loggers(gauge)
    )
    logger.info("vLLM %s serving %s (%s, %s)", vllm.__version__, model_dir, args.dtype, extra)
    return engine, gauge


def _engine_kwargs(
    model_dir: Path, context_window: int, args: VllmEngineArgs, name: str | None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": str(model_dir),
        "dtype": args.dtype,
        "max_model_len": context_window,
        "tensor_parallel_size": args.tensor_parallel_size,
        "gpu_memory_utilization": args.gpu_memory_utilization,
        "enforce_eager": args.enforce_eager,
    }
    if name is not None:
        kwargs["served_model_name"] = name
    if args.max_num_seqs is not None:
        kwargs["max_num_seqs"] = args.max_num_seqs
    if args.tensor_parallel_size > 1:
        # Inside a Ray Serve replica vLLM would pick its Ray executor, which needs a
        # placement group; the replica already holds all its GPUs, so use processes.
        kwargs["distributed_executor_backend"] = "mp"
    return kwargs


async def engine_tokenizer(engine: Any) -> Any:
    tokenizer = engine.get_tokenizer()
    # A coroutine in some vLLM releases, a plain call in 0.26 and 0.32.
    return await tokenizer if inspect.isawaitable(tokenizer) else tokenizer


def set_cpu_env(args: VllmEngineArgs) -> None:
    """vLLM's CPU build reads these at engine start; the spawned EngineCore inherits them."""
    if args.cpu_kv_cache_gib is not None:
        gib = max(1, round(args.cpu_kv_cache_gib))  # vLLM parses the variable as whole GiB
        if gib != args.cpu_kv_cache_gib:
            logger.warning("cpu_kv_cache_gib %s rounded to %d GiB", args.cpu_kv_cache_gib, gib)
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(gib)
    if args.cpu_threads_bind is not None:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = args.cpu_threads_bind


def stat_logger_class(gauge: LoadGauge) -> Callable[[Any, int], Any]:
    """A ``StatLoggerBase`` subclass feeding ``gauge``, defined here so that importing this
    module does not import vLLM. vLLM calls it as ``factory(vllm_config, engine_index)``."""
    base: Any = importlib.import_module("vllm.v1.metrics.loggers").StatLoggerBase

    class SwitchboardStatLogger(base):  # type: ignore[misc]
        # Signatures as in vLLM 0.26 and 0.32 (identical there).
        def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
            self.engine_index = engine_index
            gauge.max_running = int(vllm_config.scheduler_config.max_num_seqs)

        def record(
            self,
            scheduler_stats: Any,
            iteration_stats: Any,
            mm_cache_stats: Any = None,
            engine_idx: int = 0,
        ) -> None:
            gauge.record(scheduler_stats, iteration_stats)

        def log_engine_initialized(self) -> None:
            pass

    return SwitchboardStatLogger


def stat_loggers(gauge: LoadGauge) -> list[Any]:
    """What vLLM reports its stats to: ``gauge``; and inside a Ray worker (a Serve
    replica) vLLM's own Prometheus metrics through Ray's metrics agent, the one port that
    exports every replica's series (``ray_vllm_*`` beside ``ray_switchboard_*``), as Ray
    Serve LLM does. Outside Ray, vLLM's default prometheus_client registry stays."""
    loggers: list[Any] = [stat_logger_class(gauge)]
    ray = sys.modules.get("ray")  # a Ray worker has it imported; nothing else needs it
    if ray is not None and ray.is_initialized():
        loggers.append(
            importlib.import_module("vllm.v1.metrics.ray_wrappers").RayPrometheusStatLogger
        )
    return loggers
