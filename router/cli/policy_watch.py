"""``switchboard serve`` follows its models.yaml: when the file's live policy changes
(``router.aliases``, ``router.policy``, ``router.rules``, ``auth.keys``), the app is
redeployed with it, which Ray Serve applies as the router's new ``user_config`` without
restarting a replica (``router.app``). Other changes need a restart: they are reported,
not applied, so a half-edited fleet never reaches the running one."""

import logging
from collections.abc import Callable
from pathlib import Path

from router.config import SwitchboardConfig
from router.config_errors import ConfigError
from router.config_loader import load_config, parse_live_policy
from serving.config import EngineName

logger = logging.getLogger(__name__)


class PolicyWatch:
    def __init__(
        self,
        path: Path,
        running: SwitchboardConfig,
        deploy: Callable[[SwitchboardConfig], None],
        engine: EngineName | None = None,
    ) -> None:
        """``running``: the config deployed from ``path``; ``deploy``: redeploys the app
        for a config (one that differs from ``running`` only in its live policy)."""
        self._path, self._engine = path, engine
        self._running, self._deploy = running, deploy
        self._version = _version(path)

    def check(self) -> None:
        """Apply the file's live policy if the file changed since the last check."""
        version = _version(self._path)
        if version is None or version == self._version:
            return
        self._version = version
        try:
            edited = load_config(self._path, engine=self._engine)
        except ConfigError as exc:
            logger.error("%s changed but is not valid; serving on as before:\n%s", self._path, exc)
            return
        if edited.fleet_dump() != self._running.fleet_dump():
            logger.warning(
                "%s: changes outside router.aliases, router.policy, router.rules and "
                "auth.keys take effect when switchboard serve restarts",
                self._path,
            )
        policy = edited.live_policy()
        if policy == self._running.live_policy():
            return
        try:
            live = policy.model_dump(mode="json")
            config = parse_live_policy(live, self._running, source=str(self._path))
        except ConfigError as exc:
            logger.error("its live policy does not fit the running fleet; serving on as "
                         "before:\n%s", exc)  # fmt: skip
            return
        self._deploy(config)
        self._running = config
        logger.info("%s: live policy applied", self._path)


def _version(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file does; None while it cannot be read (mid-save)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_mtime_ns, status.st_size
