"""``python -m hivemesh.models.smoke``: does llama.cpp run the bundled models here?

Loads each bundled model with a small context and generates two tokens. A
llama.cpp build that crashes on this CPU kills the process (``scripts/setup``
then rebuilds it); a missing model is a clear error and exit status 2.
"""

from __future__ import annotations

import sys

from hivemesh.errors import HivemeshError
from hivemesh.models.base import CompletionRequest
from hivemesh.models.sources import load_model

SPECS = ("bundled?ctx=64&threads=2", "smollm2-135m-instruct?ctx=64&threads=2")


def main() -> int:
    for spec in SPECS:
        try:
            model = load_model(spec)
            try:
                completion = model.generate(CompletionRequest(prompt="The sky is", max_tokens=2))
            finally:
                model.close()
        except HivemeshError as exc:
            print(f"smoke: {spec}: {exc}", file=sys.stderr)
            return exc.exit_code
        print(f"smoke: {model.name} generated {completion.completion_tokens} token(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
