"""Real-peer simulation tests run many py-libp2p nodes in one process; pytest's
log capture of their INFO/DEBUG chatter alone costs more CPU than the mesh.
Keep WARNING and above (what a failure needs), drop the rest."""

import logging

import pytest


@pytest.fixture(autouse=True)
def quiet_logs():
    logging.disable(logging.INFO)
    yield
    logging.disable(logging.NOTSET)
