"""Test support shared by the image tests: a tiny model made on the spot, and a real
OpenAI-compatible HTTP server that runs it. Nothing here is shipped in an image."""
