"""Optional API-key auth.

Keys come from an env var (comma-separated) and/or a file (one per line, ``#`` comments),
both named in ``models.yaml``; they are kept only as SHA-256 digests and compared in
constant time. A key is never logged: log lines name a key by a short digest prefix.
"""

import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from router.config import AuthSettings
from router.errors import AuthenticationFailed

logger = logging.getLogger(__name__)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class ApiKeyAuth:
    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [_digest(key) for key in keys if key]

    @classmethod
    def from_settings(cls, settings: AuthSettings, environ: Mapping[str, str]) -> "ApiKeyAuth":
        keys: list[str] = []
        if settings.api_keys_env and environ.get(settings.api_keys_env):
            keys += [k.strip() for k in environ[settings.api_keys_env].split(",")]
        if settings.api_keys_file_env and environ.get(settings.api_keys_file_env):
            keys += _read_key_file(Path(environ[settings.api_keys_file_env]))
        auth = cls(keys)
        if not auth.enabled:
            logger.warning("no API keys configured: the endpoint accepts every request")
        return auth

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def check(self, authorization: str | None) -> None:
        """Raise ``AuthenticationFailed`` unless the bearer token is a configured key."""
        if not self.enabled:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Missing API key: send it as 'Authorization: Bearer <key>'.")
        digest = _digest(token.strip())
        # Compare against every key (no early exit) so timing reveals nothing.
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise AuthenticationFailed("Incorrect API key provided.")


def _read_key_file(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    keys = (line.strip() for line in lines)
    return [key for key in keys if key and not key.startswith("#")]
