"""The words planners send to a model: system prompt, job message, repair.

Shared by the Claude and the offline planner. The job message carries the
instruction and ``InputDescription``s only, never the input text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hivemesh.planner.base import PlanRequest
from hivemesh.planner.chunking import InputDescription

TOOL_NAME = "submit_plan"
TOOL_DESCRIPTION = (
    "Submit the plan: the subtasks the mesh of small models will run, "
    "and which subtask's output is the answer."
)

_SYSTEM = """\
You plan jobs for hivemesh, a mesh of small language models (0.3B-8B \
parameters) on ordinary computers. You never do the job yourself: you split \
it into subtasks the small models carry out, and submit them with the \
{tool} tool.

Rules:
- A subtask is one short, concrete instruction that a small model can follow.
- Input documents are split into numbered chunks that only the workers read. \
Plan map/reduce style: subtasks that each read one chunk and extract what the \
job needs, then a subtask that combines their outputs. Never give one subtask \
all the input when there is more than one chunk.
- Prompt placeholders: {{{{job}}}} the job text, {{{{input}}}} all input \
documents, {{{{input:K}}}} input K, {{{{chunk:N}}}} chunk N, {{{{out:ID}}}} \
the output of subtask ID, which must be listed in depends_on. Write no other \
{{{{...}}}}.
- id: a letter, then letters, digits, '_' or '-' (e.g. read_0, combine).
- capability: one of {capabilities}.
- max_tokens: the length of output the subtask needs, at most {max_tokens}.
- At most {max_subtasks} subtasks; each prompt under {max_prompt_chars} characters.
- answer: the id of the subtask whose output answers the job.
- Use as few subtasks as do the job well; subtasks that do not depend on \
each other run in parallel.
- A job that asks for several things gets one subtask per thing and a final \
subtask that puts every part into the answer, in the order the user asked.{tools}"""

TOOL_NOTES = {
    "math": "\n- capability math is an exact calculator, not a model: its prompt must be \
only an arithmetic expression (numbers, + - * / ^ ( ) %, round(x, n), sqrt, min, \
max), e.g. round((345 + 1289) / 7, 2). Use it for any arithmetic.",
    "join": "\n- capability join is not a model: its output is its prompt with the \
{{out:ID}} placeholders filled in. End a job of several parts with a join whose \
prompt labels each part, e.g. \"Summary:\\n{{out:summary}}\\n\\nKeywords:\\n{{out:keywords}}\".",
}


def system_prompt(request: PlanRequest) -> str:
    """The planner's standing instructions, with this mesh's capabilities and limits."""
    caps = request.capabilities
    names = ", ".join(sorted(caps)) if caps else "general, summarize, analysis, code, math"
    limits = request.limits
    tools = "".join(note for cap, note in TOOL_NOTES.items() if caps and cap in caps)
    return _SYSTEM.format(
        tools=tools,
        tool=TOOL_NAME,
        capabilities=names,
        max_tokens=limits.max_tokens,
        max_subtasks=limits.max_subtasks,
        max_prompt_chars=limits.max_prompt_chars,
    )


def job_message(request: PlanRequest) -> str:
    """The job and a short description of its inputs, for the planner model."""
    lines = ["Job:", "<job>", request.job, "</job>", ""]
    lines.extend(describe_inputs(request.inputs))
    return "\n".join(lines)


def describe_inputs(inputs: Sequence[InputDescription]) -> list[str]:
    if not inputs:
        return ["The job has no input documents."]
    total = sum(d.chunks for d in inputs)
    lines = [f"Input documents ({len(inputs)}, {total} chunks in all; "
             "workers read them, you do not):"]
    for d in inputs:
        lines.append(f"- input:{d.index}: {d.kind}, {d.chars} chars (~{d.approx_tokens} tokens), "
                     f"{_chunk_range(d)}; starts: {d.preview!r}")
    return lines


def _chunk_range(d: InputDescription) -> str:
    if d.chunks == 0:
        return "empty, no chunks"
    if d.chunks == 1:
        return f"1 chunk (chunk:{d.first_chunk})"
    return f"{d.chunks} chunks (chunk:{d.first_chunk} to chunk:{d.first_chunk + d.chunks - 1})"


def repair_message(error: str) -> str:
    return (
        f"That plan was rejected: {error}\n"
        f"Call {TOOL_NAME} again with a corrected plan."
    )


#: the system prompt of a job answered by Claude alone (the eval's ``cloud``
#: system, and the cloud-only cost estimate of every job)
ANSWER_SYSTEM = (
    "You answer requests directly. Do every part of the request, in the order "
    "asked, with a short labelled section for each part when there are several; "
    "be concise."
)

AGGREGATE_SYSTEM = (
    "You write the final answer to a job from the results of subtasks that "
    "small models carried out. Use only those results; be concise."
)


def aggregate_message(job: str, outputs: Mapping[str, str], max_chars: int) -> str:
    """The job and each subtask output, each cut to ``max_chars``."""
    lines = ["Job:", "<job>", job, "</job>", "", "Subtask results:"]
    for sid, text in outputs.items():
        cut = text if len(text) <= max_chars else text[:max_chars] + " [...]"
        lines.extend([f'<result id="{sid}">', cut, "</result>"])
    lines.extend(["", "Write the final answer to the job."])
    return "\n".join(lines)
