"""hivemesh: a cloud LLM plans, a peer-to-peer mesh of small models does the work."""

__version__ = "0.1.0"
