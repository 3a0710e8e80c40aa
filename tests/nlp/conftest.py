"""Fixtures of the pipeline tests that load the default model or the encoder (once per session)."""

from __future__ import annotations

import pytest

from nlp.config import PipelineConfig, RedactionConfig
from nlp.embed import E5Embedder
from nlp.pipeline import Pipeline, build_pipeline


@pytest.fixture(scope="session")
def model_pipeline() -> Pipeline:
    """The pipeline on the default model (three-way and emotions), as users run it."""
    from models import DEFAULT_MODEL_DIR
    from nlp.sentiment.transformer import TransformerScorer

    return build_pipeline(
        PipelineConfig(redaction=RedactionConfig(person_names=False)), scorer=TransformerScorer.load(DEFAULT_MODEL_DIR)
    )


@pytest.fixture(scope="session")
def embedder() -> E5Embedder:
    return E5Embedder()
