"""`python -m chatbot_ui`: serves the chat UI on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT."""

from __future__ import annotations

import logging

from chatbot_ui.config import Settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except ValueError as error:  # a misconfigured Deployment: say what is wrong, no traceback
        logging.getLogger("chatbot_ui").error("%s", error)
        raise SystemExit(2) from None
    from chatbot_ui.app import build_app, launch  # imports gradio, after the package set its environment

    assistants = settings.assistants()
    logging.getLogger("chatbot_ui").info("assistants: %s", ", ".join(a.name for a in assistants) or "none")
    demo = build_app(assistants)
    launch(demo, settings.server_name, settings.server_port, concurrency=settings.concurrency)


if __name__ == "__main__":
    main()
