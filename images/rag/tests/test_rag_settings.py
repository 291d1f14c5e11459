"""Settings from the environment: the Deployment's contract (workloads/rag.py)."""

from __future__ import annotations

import pytest

from rag_service.settings import DEFAULT_EMBEDDING_MODEL, Settings, SettingsError

DEPLOYMENT_ENV = {  # what workloads/rag.py sets (keys from Secrets)
    "QDRANT_URL": "http://qdrant.vector-db.svc.cluster.local:6333",
    "QDRANT_API_KEY": "qdrant-key",
    "QDRANT_COLLECTION": "products",
    "LLM_BASE_URL": "http://llm.inference.svc.cluster.local:8000/v1",
    "LLM_MODEL": "qwen2.5-7b-instruct",
    "EMBEDDING_MODEL": "sentence-transformers/all-MiniLM-L6-v2",
    "CATALOG_URI_PREFIX": "s3://genai-datasets-1234/catalog/",
    "PORT": "8000",
    "HOME": "/cache/home",
    "XDG_CACHE_HOME": "/cache",
}


def test_the_deployment_environment_is_read():
    settings = Settings.from_env(DEPLOYMENT_ENV)
    assert settings.qdrant_url == DEPLOYMENT_ENV["QDRANT_URL"] and settings.qdrant_path is None
    assert settings.qdrant_api_key == "qdrant-key"
    assert settings.collection == "products"
    assert settings.llm_base_url == DEPLOYMENT_ENV["LLM_BASE_URL"] and settings.llm_model == "qwen2.5-7b-instruct"
    assert settings.llm_api_key is None
    assert settings.embedding_model == DEFAULT_EMBEDDING_MODEL
    assert settings.catalog_uri_prefix == "s3://genai-datasets-1234/catalog/"
    assert settings.port == 8000
    assert settings.qdrant_location == DEPLOYMENT_ENV["QDRANT_URL"]


def test_defaults_and_empty_values_count_as_unset():
    settings = Settings.from_env(
        {
            "QDRANT_PATH": ":memory:",
            "LLM_BASE_URL": "https://api.example.com/v1",
            "LLM_MODEL": "m",
            "LLM_API_KEY": "",
            "QDRANT_API_KEY": " ",
            "PORT": "",
        }
    )
    assert settings.llm_api_key is None and settings.qdrant_api_key is None
    assert (settings.collection, settings.port, settings.top_k, settings.catalog_uri_prefix) == (
        "products",
        8000,
        5,
        None,
    )
    assert settings.embedding_model == DEFAULT_EMBEDDING_MODEL


def test_the_catalogue_prefix_is_a_folder():
    env = {**DEPLOYMENT_ENV, "CATALOG_URI_PREFIX": "s3://genai-datasets-1234/catalog"}
    assert Settings.from_env(env).catalog_uri_prefix == "s3://genai-datasets-1234/catalog/"


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {
                "QDRANT_URL": "qdrant:6333",
                "QDRANT_PATH": "/data",
                "QDRANT_COLLECTION": "bad name",
                "CATALOG_URI_PREFIX": "https://bucket/catalog/",
                "PORT": "eighty",
                "RAG_TOP_K": "0",
            }
        )
    message = str(caught.value)
    for part in (
        "exactly one of QDRANT_URL",
        "LLM_BASE_URL",
        "LLM_MODEL",
        "QDRANT_COLLECTION",
        "CATALOG_URI_PREFIX",
        "PORT must be an integer",
        "RAG_TOP_K must be at least 1",
    ):
        assert part in message


def test_secrets_never_appear_in_errors():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(
            {**DEPLOYMENT_ENV, "LLM_API_KEY": "sk-very-secret", "QDRANT_API_KEY": "qk-very-secret", "LLM_MODEL": ""}
        )
    assert "very-secret" not in str(caught.value)
    settings = Settings.from_env({**DEPLOYMENT_ENV, "LLM_API_KEY": "sk-very-secret"})
    assert settings.llm_api_key == "sk-very-secret" and settings.qdrant_api_key == "qdrant-key"
    assert "very-secret" not in repr(settings) and "qdrant-key" not in repr(settings)
