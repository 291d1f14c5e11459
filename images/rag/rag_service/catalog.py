"""The product catalogue: CSV parsing and validation, and the text each product is embedded as.

A catalogue is a UTF-8 CSV with a header row. Required columns: `id`, `name`, `category`,
`description`, `price` (a plain non-negative number, e.g. 89.99). Any other column (brand, sizes, colors, ...) is
kept in the product's payload and joins the text that is embedded. Column names are matched
case-insensitively; ids must be unique within a file.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

from rag_service.errors import CatalogError

REQUIRED_COLUMNS = ("id", "name", "category", "description", "price")
# Fixed forever: point ids derive from it, so re-loading a product overwrites its point.
PRODUCT_NAMESPACE = uuid.UUID("6f9c1f4e-5b7a-4d55-9a57-2f4f0a9b3c11")
MAX_FIELD_CHARS = 10_000


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str
    description: str
    price: float
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def point_id(self) -> str:
        return point_id(self.id)

    def embedding_text(self) -> str:
        """What the vector stands for: name, category, description and the other columns."""
        parts = [f"{self.name}.", f"Category: {self.category}.", self.description.rstrip(".") + "."]
        parts += [f"{key.replace('_', ' ').capitalize()}: {value}." for key, value in self.extra.items() if value]
        return " ".join(parts)

    def payload(self) -> dict[str, Any]:
        return {
            "product_id": self.id,
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "price": self.price,
            **self.extra,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Product:
        known = {"product_id", "name", "category", "description", "price"}
        return cls(
            id=str(payload["product_id"]),
            name=payload["name"],
            category=payload["category"],
            description=payload["description"],
            price=float(payload["price"]),
            extra={k: str(v) for k, v in payload.items() if k not in known},
        )


def point_id(product_id: str) -> str:
    """The Qdrant point id of a product: a UUID5 of its catalogue id, the same on every load."""
    return str(uuid.uuid5(PRODUCT_NAMESPACE, product_id))


def decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogError(
            f"the catalogue from {source} is not UTF-8 text (bad byte at offset {error.start})"
        ) from error


def parse_catalog(text: str) -> list[Product]:
    """Parses and validates a catalogue; raises CatalogError naming the first problem found."""
    if not text.strip():
        raise CatalogError("the catalogue is empty: expected a CSV header with columns " + ", ".join(REQUIRED_COLUMNS))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as error:
        raise CatalogError(f"the CSV header cannot be read: {error}") from error
    columns = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise CatalogError(
            f"the catalogue lacks the required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(m) for m in missing)} (found: {', '.join(columns)})"
        )
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise CatalogError(f"the catalogue has duplicate columns: {', '.join(duplicated)}")
    if any(not name for name in columns):
        raise CatalogError(f"the catalogue has a column without a name (column {columns.index('') + 1})")

    products: list[Product] = []
    first_line: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank line
            if len(cells) != len(columns):
                raise CatalogError(f"row at line {line} has {len(cells)} fields, the header has {len(columns)}")
            row = {name: cell.strip() for name, cell in zip(columns, cells, strict=True)}
            for name in REQUIRED_COLUMNS:
                if not row[name]:
                    raise CatalogError(f"row at line {line} has an empty {name!r}")
            for name, value in row.items():
                if len(value) > MAX_FIELD_CHARS:
                    raise CatalogError(f"row at line {line}: {name!r} is longer than {MAX_FIELD_CHARS} characters")
            price = _price(row["price"], line)
            if row["id"] in first_line:
                raise CatalogError(f"row at line {line} repeats the id {row['id']!r} of line {first_line[row['id']]}")
            first_line[row["id"]] = line
            products.append(
                Product(
                    id=row["id"],
                    name=row["name"],
                    category=row["category"],
                    description=row["description"],
                    price=price,
                    extra={k: v for k, v in row.items() if k not in REQUIRED_COLUMNS},
                )
            )
    except csv.Error as error:
        raise CatalogError(f"the CSV cannot be read at line {reader.line_num}: {error}") from error
    if not products:
        raise CatalogError("the catalogue has a header but no products")
    return products


def _price(raw: str, line: int) -> float:
    try:
        price = float(raw)
    except ValueError:
        raise CatalogError(f"row at line {line} has a price that is not a number: {raw!r}") from None
    if not math.isfinite(price) or price < 0:
        raise CatalogError(f"row at line {line} has a price that is not a non-negative number: {raw!r}")
    return price
