"""The retrieval-augmented shopping assistant: a product catalogue in Qdrant, embeddings from
sentence-transformers on the CPU, answers from an OpenAI-compatible chat endpoint.

Run with `uvicorn rag_service.app:app` or `python -m rag_service`; settings come from the
environment (see `rag_service.settings`)."""

__version__ = "0.1.0"
