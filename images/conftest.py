"""Puts the image sources on the import path: `testing` (shared test support) and each image's
package (`finetune`, `rag_service`, `chatbot_ui`), as they sit in their containers."""

import sys
from pathlib import Path

IMAGES = Path(__file__).resolve().parent
for path in (IMAGES, *(IMAGES / name for name in ("finetune", "rag", "chatbot"))):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
