"""LoadPoller: every model's per-replica engine stats, refreshed every ``interval_s``.

Ray Serve's own routing stats reach the controller only every ~10 s; this asks every
replica directly (``handle.broadcast("stats")``, which bypasses the bounded queue) so
the saturation view is a few hundred milliseconds old at most. A failed poll keeps the
previous snapshot, whose age then makes it stale (``router.load.saturation`` says when
that counts as saturated). Each model's poll may take as long as its snapshot stays
fresh (its ``stale_after_s``): an answer that late is still usable, one later is not.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from serving.embedding import Embedder
from serving.engine import Engine, EngineStats

logger = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 1.0


class LoadSource(Protocol):
    async def replica_stats(self) -> list[EngineStats]:
        """The current stats of every replica of one model."""
        ...


class SingleEngineLoad:
    """A ``LoadSource`` for an engine hosted in this process (one replica)."""

    def __init__(self, engine: Engine | Embedder) -> None:
        self._engine = engine

    async def replica_stats(self) -> list[EngineStats]:
        return [await self._engine.stats()]


@dataclass(frozen=True)
class ModelLoad:
    polled_at: float  # the poller's clock when the answer came back
    replicas: tuple[EngineStats, ...]


class LoadPoller:
    def __init__(
        self,
        sources: Mapping[str, LoadSource],
        interval_s: float,
        clock: Callable[[], float],
        timeouts_s: Mapping[str, float] | None = None,
    ) -> None:
        """``timeouts_s``: how long each model's poll may take (default 1 s)."""
        self._sources = dict(sources)
        self._timeouts_s = dict(timeouts_s or {})
        self._interval_s = interval_s
        self._clock = clock
        self._loads: dict[str, ModelLoad] = {}
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every poll (metrics gauges follow the load view)."""
        self._listeners.append(listener)

    @property
    def model_ids(self) -> list[str]:
        return list(self._sources)

    def load(self, model_id: str) -> ModelLoad | None:
        return self._loads.get(model_id)

    async def poll_once(self) -> None:
        models = list(self._sources)
        await asyncio.gather(*(self._poll(model_id) for model_id in models))

    async def _poll(self, model_id: str) -> None:
        # Each model is stamped when its own answer arrives: a slow one must not make
        # the others look older (or fresher) than they are.
        try:
            answer = await self._ask(model_id)
        except Exception as exc:  # the old snapshot stays and ages into "stale"
            logger.warning("load poll of %s failed: %r", model_id, exc)
            return
        self._loads[model_id] = ModelLoad(self._clock(), tuple(answer))

    async def _ask(self, model_id: str) -> list[EngineStats]:
        # A poll slower than the staleness limit is useless: give up on it. (A replica
        # whose every slot is busy cannot answer: stale, hence saturated.)
        timeout_s = self._timeouts_s.get(model_id, DEFAULT_TIMEOUT_S)
        return await asyncio.wait_for(self._sources[model_id].replica_stats(), timeout_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
            self._task.add_done_callback(self._restart_unless_stopped)

    def _restart_unless_stopped(self, task: asyncio.Task[None]) -> None:
        # A dead poller would leave every local model stale (so saturated) for good.
        if task.cancelled() or self._task is not task:
            return
        logger.error("load poller stopped (%r); restarting it", task.exception())
        self._task = None
        self.start()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await self.poll_once()
            for listener in self._listeners:
                try:
                    listener()
                except Exception:  # a listener's bug must not stop (or spin) the polling
                    logger.exception("load poll listener failed")
            await asyncio.sleep(self._interval_s)
