"""The product collection in Qdrant: a server by URL and API key, or embedded (a folder, :memory:).

Every Qdrant failure becomes a ServiceError: unreachable -> 503 naming the server, a refused API
key -> 503 as well (the service cannot work until its configuration is fixed).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from rag_service.catalog import Product
from rag_service.errors import CatalogEmpty, ServiceError, Unavailable
from rag_service.settings import Settings

log = logging.getLogger(__name__)
UPSERT_BATCH = 256
HEALTH_TIMEOUT_SECONDS = 2  # well inside the probes' 5 s


@dataclass(frozen=True)
class Hit:
    product: Product
    score: float


class VectorStore:
    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        dimension: int,
        location: str,
        health_client: QdrantClient | None = None,
    ):
        self.client = client
        self.health_client = health_client or client
        self.collection = collection
        self.dimension = dimension
        self.location = location

    @classmethod
    def connect(cls, settings: Settings, dimension: int) -> VectorStore:
        """Makes the client; does not contact a Qdrant server (it may come up after this service)."""
        if settings.qdrant_url:
            with warnings.catch_warnings():
                # In the cluster Qdrant is plain http inside the namespace-to-namespace NetworkPolicy;
                # the key still guards it against every other pod.
                warnings.filterwarnings("ignore", message="Api key is used with an insecure connection")

                def remote(timeout: int) -> QdrantClient:
                    return QdrantClient(
                        url=settings.qdrant_url,
                        api_key=settings.qdrant_api_key,
                        timeout=timeout,
                        check_compatibility=False,
                    )

                client, health = remote(settings.qdrant_timeout_seconds), remote(HEALTH_TIMEOUT_SECONDS)
            return cls(client, settings.collection, dimension, settings.qdrant_location, health)
        if settings.qdrant_path == ":memory:":
            client = QdrantClient(location=":memory:")
        else:
            client = QdrantClient(path=settings.qdrant_path)
        return cls(client, settings.collection, dimension, settings.qdrant_location)

    def close(self) -> None:
        self.client.close()
        if self.health_client is not self.client:
            self.health_client.close()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except ServiceError:
            raise
        except UnexpectedResponse as error:
            if error.status_code in (401, 403):
                raise Unavailable(
                    f"Qdrant at {self.location} refused the API key ({error.status_code}) while {doing}"
                ) from None
            raise Unavailable(f"Qdrant at {self.location} answered {error.status_code} while {doing}") from None
        except (ResponseHandlingException, httpx.HTTPError, ConnectionError, TimeoutError) as error:
            raise Unavailable(
                f"Qdrant at {self.location} is unreachable ({type(error).__name__}) while {doing}"
            ) from None

    # --- health ---------------------------------------------------------------------------------

    def reachable(self) -> bool:
        try:
            with self._errors("checking health"):
                self.health_client.get_collections()
            return True
        except Unavailable as error:
            log.warning("%s", error)
            return False

    # --- writing --------------------------------------------------------------------------------

    def ensure_collection(self) -> bool:
        """Creates the collection when it is missing; returns True when it created it."""
        with self._errors(f"preparing collection {self.collection!r}"):
            if self.client.collection_exists(self.collection):
                self._check_dimension()
                return False
            try:
                self.client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=self.dimension, distance=models.Distance.COSINE),
                )
            except UnexpectedResponse as error:
                if error.status_code != 409:  # another replica created it first
                    raise
                return False
            except ValueError:
                if not self.client.collection_exists(self.collection):
                    raise
                return False
            log.info("created Qdrant collection %r (%d dimensions, cosine)", self.collection, self.dimension)
            return True

    def _check_dimension(self) -> None:
        vectors = self.client.get_collection(self.collection).config.params.vectors
        size = vectors.size if isinstance(vectors, models.VectorParams) else None
        if size is not None and size != self.dimension:
            raise ServiceError(
                f"collection {self.collection!r} holds {size}-dimensional vectors but the embedding "
                f"model gives {self.dimension}: use another QDRANT_COLLECTION or delete it",
                409,
            )

    def upsert(self, products: Sequence[Product], vectors: Sequence[Sequence[float]]) -> None:
        with self._errors(f"writing to collection {self.collection!r}"):
            for start in range(0, len(products), UPSERT_BATCH):
                batch = zip(products[start : start + UPSERT_BATCH], vectors[start : start + UPSERT_BATCH], strict=True)
                points = [models.PointStruct(id=p.point_id, vector=list(v), payload=p.payload()) for p, v in batch]
                self.client.upsert(self.collection, points=points, wait=True)

    # --- reading --------------------------------------------------------------------------------

    def count(self) -> int:
        with self._errors(f"counting collection {self.collection!r}"):
            if not self.client.collection_exists(self.collection):
                return 0
            return self.client.count(self.collection, exact=True).count

    def search(self, vector: Sequence[float], limit: int) -> list[Hit]:
        with self._errors(f"searching collection {self.collection!r}"):
            if not self.client.collection_exists(self.collection):
                raise CatalogEmpty(
                    f"no products are loaded yet (collection {self.collection!r} does not exist): "
                    f"POST a catalogue to /load_data first"
                )
            result = self.client.query_points(self.collection, query=list(vector), limit=limit, with_payload=True)
        hits = [Hit(Product.from_payload(point.payload or {}), float(point.score)) for point in result.points]
        if not hits:
            raise CatalogEmpty(
                f"collection {self.collection!r} holds no products yet: POST a catalogue to /load_data first"
            )
        return hits
