"""Fixtures the fine-tuning tests share (the helpers they call are in finetune_testlib)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from finetune_testlib import tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory)


@pytest.fixture
def restore_logging():
    """For tests that call `finetune.__main__.main()`, which points the `finetune` logger at stdout."""
    logger = logging.getLogger("finetune")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
