"""Shared fixtures. Real models are loaded once per session (small context, two threads)."""

import pytest

from hivemesh.models.sources import load_model


@pytest.fixture(scope="session")
def gemma():
    model = load_model("bundled?ctx=256&threads=2")
    yield model
    model.close()


@pytest.fixture(scope="session")
def smollm2():
    model = load_model("smollm2-135m-instruct?ctx=256&threads=2")
    yield model
    model.close()


from tests.redis_server import redis_server, redis_server_url  # noqa: E402,F401  (shared fixtures)
