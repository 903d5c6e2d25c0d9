"""Optional API-key auth, and who the caller is.

Keys come from an env var (comma-separated) and/or a file (one per line, ``#`` comments),
both named in ``models.yaml``. An entry ``name:secret`` names the key, so
``auth.keys.<name>`` in models.yaml can give it a policy; a bare ``secret`` is an
unnamed key. Keys are kept only as SHA-256 digests and compared in constant time, and
never logged: logs and decisions name a key by its configured name only.

The file is re-read when it changes (``reload_if_changed``, on every load poll), so keys
rotate on a running app: a Kubernetes Secret mounted as a file is swapped in place. A
change that leaves no key, or a file gone unreadable, keeps the keys read before: a
mistake must not turn auth off. Key policies change on a running app too
(``set_policies``, from the router's live policy).
"""

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from router.config import AuthSettings
from router.errors import AuthenticationFailed
from router.policy_config import KeyPolicy

logger = logging.getLogger(__name__)
_NAMED = re.compile(r"^([A-Za-z0-9_.-]{1,64}):(.+)$")


@dataclass(frozen=True)
class Caller:
    """The authenticated key (``name`` None: an unnamed key, or auth is off)."""

    name: str | None = None
    policy: KeyPolicy = field(default_factory=KeyPolicy)

    @classmethod
    def named(cls, name: str, policies: Mapping[str, KeyPolicy]) -> "Caller":
        """The key ``name`` with its policy from ``auth.keys`` (none: no limits)."""
        return cls(name, policies.get(name, KeyPolicy()))


ANONYMOUS = Caller()


@dataclass(frozen=True)
class _Key:
    digest: bytes
    caller: Caller


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class ApiKeyAuth:
    def __init__(
        self,
        entries: Iterable[str],
        policies: Mapping[str, KeyPolicy] | None = None,
        key_file: Path | None = None,
    ) -> None:
        """``entries``: ``secret`` or ``name:secret``; ``policies``: by key name;
        ``key_file``: more entries, read now and again whenever it changes."""
        self._policies = dict(policies or {})
        self._fixed = self._parsed(entries)
        self._keys = self._fixed
        self._key_file = key_file
        self._file_version: tuple[int, int, int] | None = None
        if key_file is not None:
            self._file_version = _version(key_file)
            self._keys = self._fixed + self._parsed(_read_key_file(key_file))

    @classmethod
    def from_settings(cls, settings: AuthSettings, environ: Mapping[str, str]) -> "ApiKeyAuth":
        entries: list[str] = []
        if settings.api_keys_env and environ.get(settings.api_keys_env):
            entries += environ[settings.api_keys_env].split(",")
        key_file = None
        if settings.api_keys_file_env and environ.get(settings.api_keys_file_env):
            key_file = Path(environ[settings.api_keys_file_env])
        auth = cls(entries, settings.keys, key_file)
        if not auth.enabled:
            logger.warning("no API keys configured: the endpoint accepts every request")
        return auth

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def reload_if_changed(self) -> None:
        """Read the key file again if it changed since it was last read."""
        if self._key_file is None:
            return
        try:
            version = _version(self._key_file)
            if version == self._file_version:
                return
            keys = self._fixed + self._parsed(_read_key_file(self._key_file))
        except (OSError, UnicodeDecodeError) as exc:
            if self._file_version is not None:  # say it once, not every poll
                logger.error("key file %s unreadable (%s): keeping the keys read before",
                             self._key_file, type(exc).__name__)  # fmt: skip
            self._file_version = None
            return
        self._file_version = version
        if not keys:
            logger.error("key file %s has no keys now: keeping the keys read before",
                         self._key_file)  # fmt: skip
            return
        self._keys = keys
        logger.info("key file %s re-read: %d keys", self._key_file, len(keys))

    def set_policies(self, policies: Mapping[str, KeyPolicy]) -> None:
        """New policies by key name (a live policy change); the keys stay."""
        self._policies = dict(policies)
        self._fixed = [self._with_policy(key) for key in self._fixed]
        self._keys = [self._with_policy(key) for key in self._keys]

    def _with_policy(self, key: "_Key") -> "_Key":
        name = key.caller.name
        return key if name is None else _Key(key.digest, Caller.named(name, self._policies))

    def _parsed(self, entries: Iterable[str]) -> list["_Key"]:
        return [_key(entry.strip(), self._policies) for entry in entries if entry.strip()]

    def check(self, authorization: str | None) -> Caller:
        """The caller, or ``AuthenticationFailed`` unless the bearer token is a known key."""
        if not self.enabled:
            return ANONYMOUS
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Missing API key: send it as 'Authorization: Bearer <key>'.")
        digest = _digest(token.strip())
        # Compare against every key (no early exit) so timing reveals nothing.
        found: Caller | None = None
        for key in self._keys:
            if hmac.compare_digest(digest, key.digest):
                found = key.caller
        if found is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return found


def _key(entry: str, policies: Mapping[str, KeyPolicy]) -> _Key:
    named = _NAMED.match(entry)
    if named is None:
        return _Key(_digest(entry), ANONYMOUS)
    name, secret = named.groups()
    return _Key(_digest(secret), Caller.named(name, policies))


def _version(path: Path) -> tuple[int, int, int]:
    """What changes when the file does (a swapped Secret is a new inode)."""
    status = path.stat()
    return status.st_ino, status.st_mtime_ns, status.st_size


def _read_key_file(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    keys = (line.strip() for line in lines)
    return [key for key in keys if key and not key.startswith("#")]
