"""The OpenAI-compatible HTTP API of a gateway (``--http``).

``schema``: requests and responses in OpenAI's shapes (pure); ``models``:
what the mesh offers, and a model name to a job; ``app``: the Starlette app;
``server``: serving it with ``hypercorn.trio`` on the peer's own trio loop.
"""
