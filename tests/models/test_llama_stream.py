"""Streaming from the real bundled GGUF: the text handed out token by token
is the text and the token count of the same generation without streaming."""

import pytest

from hivemesh.models.base import ChatMessage, CompletionRequest

pytestmark = pytest.mark.slow


CHAT = (ChatMessage("user", "Name three colours."),)


@pytest.mark.parametrize("request_", [
    CompletionRequest(messages=CHAT, max_tokens=24),  # ends at a stop string (a base model's transcript)
    CompletionRequest(messages=CHAT, max_tokens=24, stop=("\n",)),
    CompletionRequest(prompt="The colours of the rainbow are", max_tokens=12),  # ends at the token limit
])
def test_streamed_text_and_counts_match_the_plain_generation(gemma, request_):
    request = request_
    plain = gemma.generate(request)
    pieces = []
    streamed = gemma.generate(request, on_token=pieces.append)
    assert "".join(pieces) == streamed.text == plain.text
    assert len(pieces) > 3  # piece by piece, not one block
    assert streamed.completion_tokens == plain.completion_tokens
    assert streamed.prompt_tokens == plain.prompt_tokens
    assert streamed.finish_reason == plain.finish_reason


def test_smollm2_streams_its_chat_template_reply(smollm2):
    request = CompletionRequest(messages=CHAT, max_tokens=32)
    plain = smollm2.generate(request)
    pieces = []
    streamed = smollm2.generate(request, on_token=pieces.append)
    assert "".join(pieces) == streamed.text == plain.text and len(pieces) > 3
    assert (streamed.completion_tokens, streamed.finish_reason) == (plain.completion_tokens, plain.finish_reason)
