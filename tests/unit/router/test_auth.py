import logging
from pathlib import Path

import pytest

from router.auth import ANONYMOUS, ApiKeyAuth, Caller
from router.config import AuthSettings
from router.errors import AuthenticationFailed
from router.policy_config import KeyPolicy

SETTINGS = AuthSettings(api_keys_env="KEYS", api_keys_file_env="KEYS_FILE")


def test_no_keys_means_auth_is_off_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        auth = ApiKeyAuth.from_settings(SETTINGS, {})
    assert not auth.enabled
    auth.check(None)
    assert "no API keys configured" in caplog.text


def test_keys_from_env_and_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# team keys\nsk-file-1\n\n  # indented comment\nsk-file-2\n")
    auth = ApiKeyAuth.from_settings(SETTINGS, {"KEYS": "sk-a, sk-b", "KEYS_FILE": str(key_file)})
    for key in ("sk-a", "sk-b", "sk-file-1", "sk-file-2"):
        auth.check(f"Bearer {key}")
    for comment in ("# team keys", "# indented comment"):
        with pytest.raises(AuthenticationFailed):
            auth.check(f"Bearer {comment}")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  ", "Basic sk-a", "sk-a"])
def test_missing_or_malformed_header(header: str | None) -> None:
    with pytest.raises(AuthenticationFailed, match="Missing API key") as info:
        ApiKeyAuth(["sk-a"]).check(header)
    assert info.value.status == 401


def test_wrong_key_is_refused_and_never_echoed() -> None:
    with pytest.raises(AuthenticationFailed) as info:
        ApiKeyAuth(["sk-a"]).check("Bearer sk-secret-guess")
    assert "sk-secret-guess" not in info.value.message
    assert info.value.code == "invalid_api_key"


def test_keys_are_not_kept_in_clear() -> None:
    auth = ApiKeyAuth(["sk-very-secret"])
    assert "sk-very-secret" not in repr(vars(auth))


def test_named_keys_carry_their_policy() -> None:
    batch = KeyPolicy(group="batch", allow_external=False)
    auth = ApiKeyAuth(["batch:sk-batch-1", "sk-plain", "team:sk-team-1"], {"batch": batch})
    assert auth.check("Bearer sk-batch-1") == Caller("batch", batch)
    assert auth.check("Bearer sk-team-1") == Caller("team", KeyPolicy())  # named, no policy
    assert auth.check("Bearer sk-plain") == ANONYMOUS
    with pytest.raises(AuthenticationFailed):
        auth.check("Bearer batch:sk-batch-1")  # the name is not part of the secret


def test_new_policies_apply_to_the_keys_held_and_to_keys_read_later(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("team:sk-team-1\n")
    auth = ApiKeyAuth(["batch:sk-batch-1", "sk-plain"], {"batch": KeyPolicy()}, key_file)
    limited = KeyPolicy(requests_per_minute=5)
    auth.set_policies({"team": limited})  # a live policy change
    assert auth.check("Bearer sk-team-1") == Caller("team", limited)
    assert auth.check("Bearer sk-batch-1") == Caller("batch", KeyPolicy())  # policy gone
    assert auth.check("Bearer sk-plain") == ANONYMOUS
    _rewritten(key_file, "team:sk-team-2\n")
    auth.reload_if_changed()
    assert auth.check("Bearer sk-team-2") == Caller("team", limited)


def _rewritten(path: Path, text: str) -> None:
    """As Kubernetes updates a mounted Secret: a new file swapped in, not edited."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_text(text)
    fresh.replace(path)


def test_a_changed_key_file_is_re_read_without_a_restart(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("app:sk-old\n")
    auth = ApiKeyAuth.from_settings(SETTINGS, {"KEYS": "sk-env", "KEYS_FILE": str(key_file)})
    auth.reload_if_changed()  # unchanged: nothing to do
    assert auth.check("Bearer sk-old").name == "app"
    _rewritten(key_file, "app:sk-new\nops:sk-ops\n")  # a rotation
    auth.reload_if_changed()
    assert auth.check("Bearer sk-new").name == "app"
    assert auth.check("Bearer sk-ops").name == "ops"
    auth.check("Bearer sk-env")  # keys from the environment stay
    with pytest.raises(AuthenticationFailed):
        auth.check("Bearer sk-old")


def test_a_key_file_that_breaks_keeps_the_keys_read_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("app:sk-app\n")
    auth = ApiKeyAuth.from_settings(SETTINGS, {"KEYS_FILE": str(key_file)})
    with caplog.at_level(logging.ERROR):
        _rewritten(key_file, "# emptied by mistake\n")  # would turn auth off
        auth.reload_if_changed()
        key_file.unlink()  # or gone
        auth.reload_if_changed()
    assert auth.enabled and auth.check("Bearer sk-app").name == "app"
    assert "no keys" in caplog.text and "unreadable" in caplog.text
    assert "sk-app" not in caplog.text
    _rewritten(key_file, "app:sk-back\n")  # fixed: read again
    auth.reload_if_changed()
    assert auth.check("Bearer sk-back").name == "app"
