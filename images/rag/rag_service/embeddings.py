"""Sentence embeddings on the CPU with sentence-transformers.

The model (EMBEDDING_MODEL: a Hugging Face id or a local folder) is loaded once, at startup. A
Hugging Face id downloads on first start into the Hugging Face cache ($HF_HOME, by default
$XDG_CACHE_HOME/huggingface, i.e. /cache/huggingface in the pod); nothing is baked into the image.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)


class Embedder:
    """Normalised embeddings, so a dot product is the cosine similarity."""

    def __init__(self, model_name_or_path: str, device: str = "cpu", batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        started = time.monotonic()
        self.model_name = str(model_name_or_path)
        self.model = SentenceTransformer(self.model_name, device=device)
        dimension = self.model.get_embedding_dimension()
        if dimension is None:  # sentence-transformers' answer for a model that does not declare it
            raise TypeError(f"embedding model {self.model_name} does not say its embedding dimension")
        self.dimension = int(dimension)
        self.batch_size = batch_size
        # One encode at a time: torch already uses every core it is given, and concurrent
        # encodes from the request thread pool would only oversubscribe them.
        self._lock = threading.Lock()
        log.info(
            "embedding model %s loaded in %.1f s (dimension %d)",
            self.model_name,
            time.monotonic() - started,
            self.dimension,
        )

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            vectors = self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.tolist()

    def embed_one(self, text: str) -> list[float]:
        return self.embed([text])[0]
