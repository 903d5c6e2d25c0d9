"""Vectors -> the OpenAI embeddings response body: each vector as a list of floats, or
(``encoding_format: base64``, what the official client asks for by default) as the
base64 of its little-endian float32 bytes."""

import base64
from typing import Any, Literal

from serving.embedding import Embeddings


def embedding_body(
    embeddings: Embeddings, model_id: str, encoding: Literal["float", "base64"]
) -> dict[str, Any]:
    rows = embeddings.rows()
    vectors: list[Any] = (
        [base64.b64encode(row.tobytes()).decode("ascii") for row in rows]
        if encoding == "base64"
        else rows.tolist()
    )
    tokens = embeddings.prompt_tokens
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": vector}
            for index, vector in enumerate(vectors)
        ],
        "model": model_id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
