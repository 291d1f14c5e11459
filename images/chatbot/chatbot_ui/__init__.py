"""The chatbot image: a Gradio chat UI in front of the platform's assistants (see `app`)."""

import os

# Set before anything imports gradio: with analytics on, Gradio looks up its analytics host at
# launch, which a private cluster cannot (and should not) reach.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
