"""Catalogue parsing and validation, point ids, and the rules on where a catalogue may come from."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest

from rag_service.catalog import PRODUCT_NAMESPACE, decode, parse_catalog, point_id
from rag_service.errors import CatalogError, PayloadTooLarge, SourceForbidden, SourceNotFound
from rag_service.sources import check_https, check_s3_allowed, fetch_https

HEADER = "id,name,category,description,price\n"


def test_the_shipped_catalogue_is_valid_and_varied(catalog_text):
    products = parse_catalog(catalog_text)
    assert len(products) == 100
    assert len({p.id for p in products}) == 100
    categories = Counter(p.category for p in products)
    assert set(categories) >= {"Footwear", "Apparel", "Electronics", "Home & Kitchen", "Sports & Outdoors"}
    assert categories["Footwear"] >= 15
    walking_for_older_men = [
        p
        for p in products
        if p.category == "Footwear" and "walking" in p.name.lower() and p.extra.get("gender") == "men"
    ]
    assert len(walking_for_older_men) >= 3
    assert all(p.price > 0 for p in products)


def test_columns_beyond_the_required_are_kept_and_embedded():
    [product] = parse_catalog(
        "ID, Name ,category,description,price,brand,sizes\nFW-1,Trail Shoe,Footwear,Grippy shoe,59.5,TrailMaster,7-13\n"
    )
    assert product.extra == {"brand": "TrailMaster", "sizes": "7-13"}
    assert product.payload()["product_id"] == "FW-1" and product.payload()["price"] == 59.5
    text = product.embedding_text()
    assert "Trail Shoe" in text and "Category: Footwear" in text and "Sizes: 7-13" in text


def test_a_byte_order_mark_and_quoted_commas_are_fine():
    text = decode(
        "\ufeff".encode() + (HEADER + 'A1,"Mug, large",Home,"Holds 500 ml, dishwasher safe",9\n').encode(), "test"
    )
    [product] = parse_catalog(text)
    assert product.name == "Mug, large" and product.description.startswith("Holds 500 ml,")


@pytest.mark.parametrize(
    "text, words",
    [
        ("", ["empty"]),
        ("id,name,category,description\nA,B,C,D\n", ["required column", "'price'"]),
        ("id,title,price\nA,B,1\n", ["'name'", "'category'", "'description'"]),
        (HEADER, ["no products"]),
        (HEADER + "A1,Mug,Home,A mug,cheap\n", ["line 2", "not a number", "'cheap'"]),
        (HEADER + "A1,Mug,Home,A mug,-3\n", ["line 2", "non-negative"]),
        (HEADER + "A1,Mug,Home,A mug,nan\n", ["line 2", "non-negative"]),
        (HEADER + "A1,Mug,Home,A mug,3\nA2,,Home,A cup,4\n", ["line 3", "empty 'name'"]),
        (HEADER + "A1,Mug,Home,A mug,3\nA2,Cup,Home,A cup\n", ["line 3", "4 fields", "header has 5"]),
        (HEADER + "A1,Mug,Home,A mug,3\nA1,Cup,Home,A cup,4\n", ["line 3", "repeats the id 'A1'", "line 2"]),
        ("id,name,name,category,description,price\nA,B,B,C,D,1\n", ["duplicate columns: name"]),
    ],
)
def test_bad_catalogues_are_refused_with_the_reason(text, words):
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text)
    assert caught.value.status_code == 400
    for word in words:
        assert word in caught.value.message


def test_text_that_is_not_utf8_is_refused():
    with pytest.raises(CatalogError, match="not UTF-8"):
        decode(HEADER.encode() + "A1,Caf\xe9,Home,x,1\n".encode("latin-1"), "s3://b/catalog/x.csv")


def test_point_ids_are_uuid5_of_the_product_id():
    assert point_id("FW-1001") == point_id("FW-1001") == str(uuid.uuid5(PRODUCT_NAMESPACE, "FW-1001"))
    assert point_id("FW-1001") != point_id("FW-1002")
    assert uuid.UUID(point_id("x")).version == 5


# --- sources ----------------------------------------------------------------------------------

PREFIX = "s3://datasets-bucket/catalog/"


def test_s3_uris_under_the_prefix_are_allowed():
    assert check_s3_allowed("s3://datasets-bucket/catalog/2024/products.csv", PREFIX) == (
        "datasets-bucket",
        "catalog/2024/products.csv",
    )
    assert check_s3_allowed("s3://any-bucket/x.csv", None) == ("any-bucket", "x.csv")  # no prefix: local use


@pytest.mark.parametrize(
    "uri",
    [
        "s3://datasets-bucket/loyalty/train.jsonl",
        "s3://datasets-bucket/catalog-private/products.csv",  # a sibling folder is not under catalog/
        "s3://other-bucket/catalog/products.csv",
        "s3://datasets-bucket/catalog/../loyalty/train.csv",
    ],
)
def test_s3_uris_outside_the_prefix_are_forbidden(uri):
    with pytest.raises(SourceForbidden) as caught:
        check_s3_allowed(uri, PREFIX)
    assert caught.value.status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/products.csv",
        "ftp://example.com/products.csv",
        "file:///etc/passwd",
        "https:///products.csv",
        "example.com/products.csv",
    ],
)
def test_only_https_urls_are_fetched(url):
    with pytest.raises(SourceForbidden, match="https"):
        check_https(url)
    with pytest.raises(SourceForbidden):
        fetch_https(url, 1000, transport=httpx.MockTransport(lambda request: pytest.fail("fetched")))


def _transport(routes: dict[str, httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: routes.get(str(request.url), httpx.Response(404)))


def test_https_fetch_reads_the_body_and_follows_https_redirects():
    transport = _transport(
        {
            "https://shop.example.com/latest.csv": httpx.Response(
                302, headers={"location": "https://cdn.example.com/p.csv"}
            ),
            "https://cdn.example.com/p.csv": httpx.Response(200, content=b"id,name\n"),
        }
    )
    assert fetch_https("https://shop.example.com/latest.csv", 1000, transport=transport) == b"id,name\n"


def test_https_fetch_refuses_a_redirect_to_http_a_404_and_an_oversized_body():
    transport = _transport(
        {
            "https://shop.example.com/latest.csv": httpx.Response(
                301, headers={"location": "http://shop.example.com/p.csv"}
            ),
            "https://shop.example.com/big.csv": httpx.Response(200, content=b"x" * 2000),
        }
    )
    with pytest.raises(SourceForbidden, match="redirected to http"):
        fetch_https("https://shop.example.com/latest.csv", 1000, transport=transport)
    with pytest.raises(SourceNotFound, match="404"):
        fetch_https("https://shop.example.com/missing.csv", 1000, transport=transport)
    with pytest.raises(PayloadTooLarge):
        fetch_https("https://shop.example.com/big.csv", 1000, transport=transport)
