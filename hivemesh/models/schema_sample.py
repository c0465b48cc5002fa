"""A small, deterministic instance of a JSON Schema, for the simulated model.

Covers the subset plans and structured outputs use: ``type`` (object, array,
string, integer, number, boolean, null, or a list of them), ``properties``
(every property is filled in), ``items``, ``minItems``, ``enum``, ``const``,
``anyOf``/``oneOf`` (the first branch), ``minimum``, ``minLength``, and local
``$ref`` into ``$defs``/``definitions``.
"""

from __future__ import annotations

from typing import Any

from hivemesh.errors import ModelError

MAX_DEPTH = 16


def sample_instance(schema: Any, text: str = "x") -> Any:
    """An instance of ``schema``; strings are ``text``."""
    return _sample(schema, schema, text, 0)


def _sample(node: Any, root: Any, text: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ModelError("JSON schema nests too deeply to sample")
    if node is True or not isinstance(node, dict):
        return text
    if "$ref" in node:
        return _sample(_resolve(node["$ref"], root), root, text, depth + 1)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if node.get(key):
            return _sample(node[key][0], root, text, depth + 1)
    kind = node.get("type", "object" if "properties" in node else "string")
    if isinstance(kind, list):
        kind = kind[0] if kind else "null"
    return _by_type(kind, node, root, text, depth)


def _by_type(kind: str, node: dict, root: Any, text: str, depth: int) -> Any:
    if kind == "object":
        props = node.get("properties", {})
        return {k: _sample(v, root, text, depth + 1) for k, v in props.items()}
    if kind == "array":
        count = max(1, int(node.get("minItems", 1)))
        return [_sample(node.get("items", {}), root, text, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        value = node.get("minimum", 0)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text.ljust(int(node.get("minLength", 0)), "x")


def _resolve(ref: str, root: Any) -> Any:
    parts = ref.split("/")
    if parts[0] != "#":
        raise ModelError(f"only local $ref is supported, not {ref!r}")
    node = root
    for part in parts[1:]:
        if not isinstance(node, dict) or part not in node:
            raise ModelError(f"unresolvable $ref {ref!r}")
        node = node[part]
    return node
