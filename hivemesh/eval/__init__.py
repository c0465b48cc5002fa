"""``hivemesh eval``: a bundled, scored task suite and the systems it compares.

- ``suite``: the task schema and loader (``tasks/*.jsonl``, shipped in the package);
- ``reference``: each task's reference answer (every task must pass its own checks on it);
- ``checks``: one typed check per kind of part, parsed and validated from a task file;
- ``text``, ``numbers``: how an answer is cut into segments and its numbers read;
- ``scorers``: pure functions, free-text answer -> score in [0, 1] and satisfied;
- ``sandbox`` and ``codecheck``: model-written code run in a separate, locked-down process;
- ``systems``, ``meshsys``: what answers (``mesh``, ``single``, ``cloud``, ``mesh+claude``);
- ``runner``, ``report``, ``files``, ``command``: the run, its numbers, files and CLI.
"""
