"""`python -m rag_service`: uvicorn on 0.0.0.0:$PORT (default 8000)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    import uvicorn

    raw = os.environ.get("PORT", "").strip() or "8000"
    if not raw.isdigit():
        sys.exit(f"PORT must be a number, not {raw!r}")
    uvicorn.run("rag_service.app:app", host=os.environ.get("HOST", "0.0.0.0"), port=int(raw))


if __name__ == "__main__":
    main()
