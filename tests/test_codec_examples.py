"""The codec against hand-written, realistic wire examples (``tests/data/*.jsonl``).

Every line decodes to the right class with the right values, re-encodes to the same JSON (apart
from the documented differences in ``WIRE_CHANGES``), and round-trips. Then the failure policy:
what malformed or unknown frames turn into.
"""

from __future__ import annotations

import base64
import copy
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

import trealtime
from trealtime import NOT_GIVEN
from trealtime import events as ev

DATA = Path(__file__).parent / "data"

Decode = Callable[..., Any]


def _load(name: str) -> list[tuple[str, str]]:
    """``(key, line)`` pairs; the key is ``type[n]``, the n-th example of that type."""
    seen: Counter[str] = Counter()
    examples = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        tag = orjson.loads(line)["type"]
        examples.append((f"{tag}[{seen[tag]}]", line))
        seen[tag] += 1
    return examples


SERVER_EXAMPLES = _load("server_events.jsonl")
CLIENT_EXAMPLES = _load("client_events.jsonl")
ALL_EXAMPLES = [("server", key, line) for key, line in SERVER_EXAMPLES] + [
    ("client", key, line) for key, line in CLIENT_EXAMPLES
]
DECODE: dict[str, Decode] = {
    "server": ev.decode_server_event,
    "client": ev.decode_client_event,
}
ENCODE: dict[str, Callable[[Any], str]] = {
    "server": ev.encode_server_event,
    "client": ev.encode_client_event,
}

# -- expected values ------------------------------------------------------------------------------

R = "resp_5HnB8vCx2ZqW4eRt7YuI1"
A = "item_8PaV3nHcYd2kLs5wEr9Ux"  # the assistant audio item
U = "item_3TyU7iOp1AsD5fGh9JkL2"  # the user audio item
PCM = ev.AudioFormat(type="audio/pcm", rate=24000)
TOOL_ARGS = '{"from":"BER","to":"LIS"}'

# key -> (class, {attribute path: expected value}). A path is dotted attribute access with
# ``[i]`` indexing and ``()`` calls: ``response.output[0].content[0].audio_bytes()``.
EXPECTED: dict[str, tuple[type[Any], dict[str, Any]]] = {
    # -- server: session and conversation
    "error[0]": (
        ev.Error,
        {
            "event_id": "event_i5J6k7L8m9N0o1P2q3R4s",
            "error": ev.ErrorDetail(
                type="invalid_request_error",
                code="unknown_parameter",
                message="Unknown parameter: 'session.voice'.",
                param="session.voice",
                event_id="cli_0001",
            ),
        },
    ),
    "error[1]": (
        ev.Error,
        {
            "error.code": "session_expired",
            "error.param": None,
            "error.event_id": None,
            "error.message": "Your session hit the maximum duration of 60 minutes.",
        },
    ),
    "session.created[0]": (
        ev.SessionCreated,
        {
            "session.id": "sess_Lm3Np5Qr7St9Uv1Wx3Yz5",
            "session.model": "gpt-realtime",
            "session.output_modalities": ["audio"],
            "session.max_output_tokens": "inf",
            "session.tracing": None,
            "session.prompt": None,
            "session.include": None,
            "session.truncation": "auto",
            "session.tools": [],
            "session.tool_choice": "auto",
            "session.expires_at": 1790003600,
            "session.temperature": NOT_GIVEN,
            "session.audio.input.format": PCM,
            "session.audio.input.transcription": None,
            "session.audio.input.noise_reduction": None,
            "session.audio.input.turn_detection": ev.ServerVad(
                threshold=0.5,
                prefix_padding_ms=300,
                silence_duration_ms=200,
                idle_timeout_ms=None,
                create_response=True,
                interrupt_response=True,
            ),
            "session.audio.output.voice": "alloy",
            "session.audio.output.speed": 1.0,
        },
    ),
    "session.created[1]": (
        ev.SessionCreated,
        {
            "session": ev.TranscriptionSessionProperties(
                id="sess_Tr4Ns6Cr8Ip0Tn2Sx4Yz6",
                object="realtime.transcription_session",
                expires_at=1790007200,
                include=None,
                audio=ev.AudioConfig(
                    input=ev.AudioInput(
                        format=PCM,
                        transcription=None,
                        noise_reduction=None,
                        turn_detection=ev.ServerVad(
                            threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200
                        ),
                    )
                ),
            ),
        },
    ),
    "session.created[2]": (  # the beta (flat) session shape, rewritten to GA
        ev.SessionCreated,
        {
            "session.model": "gpt-4o-realtime-preview-2024-12-17",
            "session.output_modalities": ["audio"],
            "session.max_output_tokens": "inf",
            "session.temperature": 0.8,
            "session.audio.input.format": PCM,
            "session.audio.input.transcription": None,
            "session.audio.input.turn_detection.silence_duration_ms": 200,
            "session.audio.output.format": ev.AudioFormat(type="audio/pcmu"),
            "session.audio.output.voice": "alloy",
        },
    ),
    "session.updated[0]": (
        ev.SessionUpdated,
        {
            "session.instructions": "You are a terse travel agent.",
            "session.tools[0].name": "find_flight",
            "session.tools[0].parameters.strict": True,
            "session.tools[1]": ev.McpTool(
                server_label="deepwiki",
                server_url="https://mcp.deepwiki.com/mcp",
                server_description="Docs for public GitHub repos",
                allowed_tools=["ask_question", "read_wiki_structure"],
                require_approval={"always": {"tool_names": ["ask_question"]}},
                headers=None,
            ),
            "session.tool_choice": ev.ToolChoiceFunction(name="find_flight"),
            "session.max_output_tokens": 1024,
            "session.tracing": ev.TracingConfig(
                workflow_name="travel-desk",
                group_id="grp_2291",
                metadata={"tier": "gold", "attempt": 2},
            ),
            "session.truncation": ev.RetentionRatioTruncation(
                retention_ratio=0.8, token_limits=ev.TokenLimits(post_instructions=8000)
            ),
            "session.prompt": ev.Prompt(
                id="pmpt_68a1f0c2d3e4", version="3", variables={"city": "Lisbon"}
            ),
            "session.reasoning": ev.Reasoning(effort="low"),
            "session.parallel_tool_calls": False,
            "session.audio.input.transcription.model": "gpt-4o-transcribe",
            "session.audio.input.transcription.prompt": "Airport codes like BER, LIS.",
            "session.audio.input.noise_reduction": ev.NoiseReduction(type="near_field"),
            "session.audio.input.turn_detection": ev.SemanticVad(
                eagerness="medium", create_response=True, interrupt_response=True
            ),
            "session.audio.output.voice": "marin",
            "session.audio.output.speed": 1.1,
            "session.include": ["item.input_audio_transcription.logprobs"],
        },
    ),
    "session.updated[1]": (
        ev.SessionUpdated,
        {
            "session.audio.input.format": ev.AudioFormat(type="audio/pcmu"),
            "session.audio.input.format.bytes_per_ms": 8,
            "session.audio.input.turn_detection": None,
            "session.audio.input.transcription.language": "es",
            "session.audio.input.transcription.prompt": "",
            "session.audio.input.noise_reduction.type": "far_field",
        },
    ),
    "conversation.created[0]": (
        ev.ConversationCreated,
        {
            "conversation": ev.ConversationInfo(
                id="conv_Q9w8E7r6T5y4U3i2O1p0A", object="realtime.conversation"
            )
        },
    ),
    # -- server: items
    "conversation.item.created[0]": (
        ev.ConversationItemCreated,
        {
            "previous_item_id": None,
            "item": ev.MessageItem(
                id=U,
                object="realtime.item",
                status="completed",
                role="user",
                content=[ev.InputAudio(transcript=None)],
            ),
            "item.text": "",
            "item.content[0].audio_bytes()": b"",
        },
    ),
    "conversation.item.created[1]": (  # legacy part type "text"
        ev.ConversationItemCreated,
        {
            "previous_item_id": U,
            "item.role": "assistant",
            "item.content": [ev.OutputText(type="text", text="Sure, which day?")],
            "item.text": "Sure, which day?",
        },
    ),
    "conversation.item.added[0]": (
        ev.ConversationItemAdded,
        {
            "previous_item_id": "item_2RtY6uIoPa9sDf3gHj1Kl",
            "item": ev.MessageItem(id=A, status="in_progress", role="assistant", content=[]),
        },
    ),
    "conversation.item.added[1]": (
        ev.ConversationItemAdded,
        {
            "item.role": "user",
            "item.content": [
                ev.InputText(text="What is in this photo?"),
                ev.InputImage(image_url="data:image/jpeg;base64,/9j/4AAQSkZJRg==", detail="low"),
            ],
            "item.text": "What is in this photo?",
        },
    ),
    "conversation.item.added[2]": (
        ev.ConversationItemAdded,
        {
            "previous_item_id": None,
            "item.role": "system",
            "item.content[0].text": "The user is a frequent flyer; skip the basics.",
        },
    ),
    "conversation.item.added[3]": (
        ev.ConversationItemAdded,
        {
            "item": ev.FunctionCallOutputItem(
                id="item_Fo2Ut3Pu4Tx5Yz6Ab7Cd8",
                call_id="call_Qm3xT8vLr1",
                output='{"booked":true,"pnr":"K7XQ2M"}',
            ),
        },
    ),
    "conversation.item.added[4]": (
        ev.ConversationItemAdded,
        {
            "item": ev.McpApprovalResponseItem(
                id="item_apr_01",
                approval_request_id="item_9LzX1cVb3NmQ5wEr7TyU9",
                approve=False,
                reason="Not allowed to query private repos.",
            ),
        },
    ),
    "conversation.item.done[0]": (
        ev.ConversationItemDone,
        {
            "item.status": "completed",
            "item.content": [ev.OutputAudio(transcript="The 9am flight is booked.")],
            "item.content[0].audio": NOT_GIVEN,
            "item.text": "The 9am flight is booked.",
        },
    ),
    "conversation.item.done[1]": (
        ev.ConversationItemDone,
        {"item.content": [ev.OutputText(text="travel")], "item.object": NOT_GIVEN},
    ),
    "conversation.item.done[2]": (
        ev.ConversationItemDone,
        {
            "item": ev.FunctionCallItem(
                id="item_4FgH6jKl8ZxC0vBn2MqW4",
                status="completed",
                call_id="call_Qm3xT8vLr1",
                name="find_flight",
                arguments=TOOL_ARGS,
            ),
        },
    ),
    "conversation.item.done[3]": (
        ev.ConversationItemDone,
        {
            "item.server_label": "deepwiki",
            "item.tools[0].name": "read_wiki_structure",
            "item.tools[0].input_schema.required": ["repoName"],
            "item.tools[0].annotations": None,
            "item.tools[1].description": None,
            "item.tools[1].annotations": {"readOnlyHint": True},
        },
    ),
    "conversation.item.done[4]": (
        ev.ConversationItemDone,
        {
            "item": ev.McpApprovalRequestItem(
                id="item_9LzX1cVb3NmQ5wEr7TyU9",
                server_label="deepwiki",
                name="ask_question",
                arguments='{"repoName":"python-trio/trio","question":"What is a nursery?"}',
            ),
        },
    ),
    "conversation.item.retrieved[0]": (
        ev.ConversationItemRetrieved,
        {
            "item.content[0]": ev.InputAudio(
                audio="AQACAP//AwA=", transcript="book the nine am one"
            ),
            "item.content[0].audio_bytes()": b"\x01\x00\x02\x00\xff\xff\x03\x00",
        },
    ),
    "conversation.item.retrieved[1]": (
        ev.ConversationItemRetrieved,
        {
            "item.content[0].transcript": "The 9am flight is booked.",
            "item.content[0].audio_bytes()": base64.b64decode("+v8AAAYA9f8MAOz/"),
        },
    ),
    "conversation.item.retrieved[2]": (  # legacy part type "audio"
        ev.ConversationItemRetrieved,
        {
            "item.content": [
                ev.OutputAudio(
                    type="audio", audio="AAABAAIAAwA=", transcript="The 9am flight is booked."
                )
            ],
            "item.content[0].audio_bytes()": b"\x00\x00\x01\x00\x02\x00\x03\x00",
        },
    ),
    "conversation.item.truncated[0]": (
        ev.ConversationItemTruncated,
        {"item_id": A, "content_index": 0, "audio_end_ms": 2340},
    ),
    "conversation.item.deleted[0]": (
        ev.ConversationItemDeleted,
        {"item_id": "item_2RtY6uIoPa9sDf3gHj1Kl", "event_id": "event_H8i9J0k1L2m3N4o5P6q7R"},
    ),
    # -- server: input transcription
    "conversation.item.input_audio_transcription.delta[0]": (
        ev.ConversationItemInputAudioTranscriptionDelta,
        {"item_id": U, "content_index": 0, "delta": "book the", "logprobs": NOT_GIVEN},
    ),
    "conversation.item.input_audio_transcription.delta[1]": (
        ev.ConversationItemInputAudioTranscriptionDelta,
        {
            "delta": " nine",
            "logprobs": [ev.LogProb(token=" nine", logprob=-0.0123, bytes=list(b" nine"))],
        },
    ),
    "conversation.item.input_audio_transcription.completed[0]": (
        ev.ConversationItemInputAudioTranscriptionCompleted,
        {
            "transcript": "Book the nine a.m. one.",
            "usage": ev.TranscriptionTokenUsage(
                total_tokens=19,
                input_tokens=12,
                output_tokens=7,
                input_token_details=ev.TranscriptionInputTokenDetails(
                    text_tokens=0, audio_tokens=12
                ),
            ),
            "logprobs": NOT_GIVEN,
            "languages": NOT_GIVEN,
        },
    ),
    "conversation.item.input_audio_transcription.completed[1]": (
        ev.ConversationItemInputAudioTranscriptionCompleted,
        {
            "item_id": "item_5GhJ9kLz3XcV7bNm1QwE4",
            "transcript": "Hola.",
            "usage": ev.TranscriptionDurationUsage(seconds=2.0),
            "logprobs[0]": ev.LogProb(token="Hola", logprob=-0.2874, bytes=[72, 111, 108, 97]),
            "logprobs[1].logprob": -1.2e-05,
            "languages": [ev.TranscriptionLanguage(code="es")],
        },
    ),
    "conversation.item.input_audio_transcription.failed[0]": (
        ev.ConversationItemInputAudioTranscriptionFailed,
        {
            "error": ev.ErrorInfo(
                type="transcription_error",
                code="audio_unintelligible",
                message="Could not transcribe audio.",
                param=None,
            ),
        },
    ),
    "conversation.item.input_audio_transcription.segment[0]": (
        ev.ConversationItemInputAudioTranscriptionSegment,
        {"text": "book it", "id": "seg_004", "speaker": "B", "start": 3.12, "end": 3.9},
    ),
    # -- server: input audio buffer
    "input_audio_buffer.committed[0]": (
        ev.InputAudioBufferCommitted,
        {"previous_item_id": A, "item_id": U},
    ),
    "input_audio_buffer.committed[1]": (
        ev.InputAudioBufferCommitted,
        {"previous_item_id": None, "item_id": "item_2RtY6uIoPa9sDf3gHj1Kl"},
    ),
    "input_audio_buffer.cleared[0]": (
        ev.InputAudioBufferCleared,
        {"event_id": "event_N4o5P6q7R8s9T0u1V2w3X", "type": "input_audio_buffer.cleared"},
    ),
    "input_audio_buffer.speech_started[0]": (
        ev.InputAudioBufferSpeechStarted,
        {"audio_start_ms": 11840, "item_id": U},
    ),
    "input_audio_buffer.speech_stopped[0]": (
        ev.InputAudioBufferSpeechStopped,
        {"audio_end_ms": 14160, "item_id": U},
    ),
    "input_audio_buffer.timeout_triggered[0]": (
        ev.InputAudioBufferTimeoutTriggered,
        {"audio_start_ms": 20500, "audio_end_ms": 28520, "item_id": "item_5GhJ9kLz3XcV7bNm1QwE4"},
    ),
    "input_audio_buffer.dtmf_event_received[0]": (
        ev.InputAudioBufferDtmfEventReceived,
        {"event": "5", "received_at": 1790001234, "event_id": NOT_GIVEN},
    ),
    "output_audio_buffer.started[0]": (ev.OutputAudioBufferStarted, {"response_id": R}),
    "output_audio_buffer.stopped[0]": (ev.OutputAudioBufferStopped, {"response_id": R}),
    "output_audio_buffer.cleared[0]": (
        ev.OutputAudioBufferCleared,
        {"response_id": R, "event_id": "event_R8s9T0u1V2w3X4y5Z6a7B"},
    ),
    # -- server: responses
    "response.created[0]": (
        ev.ResponseCreated,
        {
            "response.id": R,
            "response.object": "realtime.response",
            "response.status": "in_progress",
            "response.status_details": None,
            "response.output": [],
            "response.conversation_id": "conv_Q9w8E7r6T5y4U3i2O1p0A",
            "response.max_output_tokens": "inf",
            "response.audio.output": ev.AudioOutput(format=PCM, voice="alloy"),
            "response.usage": None,
            "response.metadata": None,
        },
    ),
    "response.created[1]": (  # the beta response shape, rewritten to GA
        ev.ResponseCreated,
        {
            "response.output_modalities": ["audio"],
            "response.audio": ev.AudioConfig(output=ev.AudioOutput(format=PCM, voice="alloy")),
            "response.max_output_tokens": "inf",
            "response.conversation_id": "conv_Be1Ta2Co3Nv4Er5Sa6Ti7",
        },
    ),
    "response.done[0]": (
        ev.ResponseDone,
        {
            "response.status": "completed",
            "response.output[0].content[0].transcript": "The 9am flight is booked.",
            "response.output[0].text": "The 9am flight is booked.",
            "response.usage": ev.Usage(
                total_tokens=418,
                input_tokens=256,
                output_tokens=162,
                input_token_details=ev.InputTokenDetails(
                    text_tokens=201,
                    audio_tokens=55,
                    image_tokens=0,
                    cached_tokens=128,
                    cached_tokens_details=ev.CachedTokenDetails(
                        text_tokens=128, audio_tokens=0, image_tokens=0
                    ),
                ),
                output_token_details=ev.OutputTokenDetails(text_tokens=38, audio_tokens=124),
            ),
        },
    ),
    "response.done[1]": (
        ev.ResponseDone,
        {
            "response.status": "cancelled",
            "response.status_details": ev.StatusDetails(type="cancelled", reason="turn_detected"),
            "response.output[0].status": "incomplete",
            "response.output[0].text": "There are three flights leaving",
            "response.usage.input_token_details.cached_tokens": 384,
            "response.usage.output_token_details.audio_tokens": 32,
        },
    ),
    "response.done[2]": (
        ev.ResponseDone,
        {
            "response.status": "failed",
            "response.status_details.type": "failed",
            "response.status_details.reason": NOT_GIVEN,
            "response.status_details.error.type": "requests",
            "response.status_details.error.code": "rate_limit_exceeded",
            "response.output": [],
            "response.usage.total_tokens": 0,
        },
    ),
    "response.done[3]": (  # out of band
        ev.ResponseDone,
        {
            "response.conversation_id": None,
            "response.metadata": {"purpose": "classify"},
            "response.output_modalities": ["text"],
            "response.audio": NOT_GIVEN,
            "response.output[0].content": [ev.OutputText(text="booking")],
        },
    ),
    "response.done[4]": (
        ev.ResponseDone,
        {
            "response.output[0]": ev.McpCallItem(
                id="item_7JkL9zXc1VbN3mQw5ErT7",
                server_label="deepwiki",
                name="ask_question",
                arguments='{"repoName":"python-trio/trio","question":"What is a nursery?"}',
                approval_request_id=None,
                output="A nursery is a scope that owns child tasks.",
                error=None,
            ),
            "response.output[1].text": "A nursery owns its child tasks.",
            "response.audio.output.voice": "marin",
        },
    ),
    "response.output_item.added[0]": (
        ev.ResponseOutputItemAdded,
        {"response_id": R, "output_index": 0, "item.status": "in_progress", "item.content": []},
    ),
    "response.output_item.added[1]": (
        ev.ResponseOutputItemAdded,
        {
            "response_id": "resp_7BvN1mQw3ErT5yUi7OpA9",
            "item.call_id": "call_Qm3xT8vLr1",
            "item.name": "find_flight",
            "item.arguments": "",
        },
    ),
    "response.output_item.done[0]": (
        ev.ResponseOutputItemDone,
        {"item.status": "completed", "item.arguments": TOOL_ARGS},
    ),
    "response.output_item.done[1]": (
        ev.ResponseOutputItemDone,
        {
            "item.output": None,
            "item.approval_request_id": "item_9LzX1cVb3NmQ5wEr7TyU9",
            "item.error": ev.McpCallError(type="http_error", code=502, message="Bad Gateway"),
        },
    ),
    "response.output_item.done[2]": (
        ev.ResponseOutputItemDone,
        {
            "output_index": 1,
            "item.output": NOT_GIVEN,
            "item.error": ev.McpCallError(
                type="protocol_error", code=-32602, message="Invalid params: repository not found"
            ),
        },
    ),
    "response.content_part.added[0]": (  # the schema's part type "audio", kept as it is
        ev.ResponseContentPartAdded,
        {"item_id": A, "content_index": 0, "part": ev.OutputAudio(type="audio", transcript="")},
    ),
    "response.content_part.added[1]": (  # the schema's part type "text", kept as it is
        ev.ResponseContentPartAdded,
        {"part": ev.OutputText(type="text", text="")},
    ),
    "response.content_part.done[0]": (
        ev.ResponseContentPartDone,
        {"part": ev.OutputAudio(type="audio", transcript="The 9am flight is booked.")},
    ),
    "response.content_part.done[1]": (
        ev.ResponseContentPartDone,
        {"part": ev.OutputText(text="travel"), "response_id": "resp_9KjH2gFd4SaQ6wEr8TyU0"},
    ),
    # -- server: streaming
    "response.output_text.delta[0]": (
        ev.ResponseOutputTextDelta,
        {"delta": "travel", "item_id": "item_1ZxC3vBn5MqW7eRt9YuI2", "output_index": 0},
    ),
    "response.output_text.done[0]": (ev.ResponseOutputTextDone, {"text": "travel"}),
    "response.output_audio.delta[0]": (
        ev.ResponseOutputAudioDelta,
        {
            "delta": "+v8AAAYA9f8MAOz/",
            "audio_bytes()": b"\xfa\xff\x00\x00\x06\x00\xf5\xff\x0c\x00\xec\xff",
        },
    ),
    "response.output_audio.done[0]": (
        ev.ResponseOutputAudioDone,
        {"response_id": R, "item_id": A, "output_index": 0, "content_index": 0},
    ),
    "response.output_audio_transcript.delta[0]": (
        ev.ResponseOutputAudioTranscriptDelta,
        {"delta": "The 9am", "event_id": "event_X4y5Z6a7B8c9D0e1F2g3H"},
    ),
    "response.output_audio_transcript.done[0]": (
        ev.ResponseOutputAudioTranscriptDone,
        {"transcript": "The 9am flight is booked."},
    ),
    # -- server: function calls, MCP
    "response.function_call_arguments.delta[0]": (
        ev.ResponseFunctionCallArgumentsDelta,
        {"call_id": "call_Qm3xT8vLr1", "delta": '{"from":"BER",'},
    ),
    "response.function_call_arguments.done[0]": (
        ev.ResponseFunctionCallArgumentsDone,
        {"call_id": "call_Qm3xT8vLr1", "name": "find_flight", "arguments": TOOL_ARGS},
    ),
    "response.mcp_call_arguments.delta[0]": (
        ev.ResponseMcpCallArgumentsDelta,
        {"delta": '{"query":', "obfuscation": "w8Lp"},
    ),
    "response.mcp_call_arguments.done[0]": (
        ev.ResponseMcpCallArgumentsDone,
        {"arguments": '{"query":"baggage rules"}', "item_id": "item_7JkL9zXc1VbN3mQw5ErT7"},
    ),
    "response.mcp_call.in_progress[0]": (
        ev.ResponseMcpCallInProgress,
        {"output_index": 0, "item_id": "item_7JkL9zXc1VbN3mQw5ErT7"},
    ),
    "response.mcp_call.completed[0]": (
        ev.ResponseMcpCallCompleted,
        {"event_id": "event_Ji6Lk8Nm0Po2Rq4Ts6Vu8", "item_id": "item_7JkL9zXc1VbN3mQw5ErT7"},
    ),
    "response.mcp_call.failed[0]": (
        ev.ResponseMcpCallFailed,
        {"event_id": "event_g3H4i5J6k7L8m9N0o1P2q", "output_index": 0},
    ),
    "mcp_list_tools.in_progress[0]": (
        ev.McpListToolsInProgress,
        {"item_id": "item_6HjK8lZx0CvB2nMq4WeR6"},
    ),
    "mcp_list_tools.completed[0]": (
        ev.McpListToolsCompleted,
        {"item_id": "item_6HjK8lZx0CvB2nMq4WeR6", "event_id": "event_e1F2g3H4i5J6k7L8m9N0o"},
    ),
    "mcp_list_tools.failed[0]": (
        ev.McpListToolsFailed,
        {"item_id": "item_Fa9Il0Ed1Li2St3To4Ol5"},
    ),
    "rate_limits.updated[0]": (
        ev.RateLimitsUpdated,
        {
            "rate_limits": [
                ev.RateLimit(name="tokens", limit=40000, remaining=38211, reset_seconds=2.684)
            ]
        },
    ),
    "rate_limits.updated[1]": (
        ev.RateLimitsUpdated,
        {"rate_limits[0].name": "requests", "rate_limits[1].remaining": 35400},
    ),
    # -- server: beta names
    "response.text.delta[0]": (
        ev.ResponseOutputTextDelta,
        {"delta": "Sure,", "type": "response.output_text.delta"},
    ),
    "response.text.done[0]": (ev.ResponseOutputTextDone, {"text": "Sure, which day?"}),
    "response.audio.delta[0]": (
        ev.ResponseOutputAudioDelta,
        {"audio_bytes()": b"\x00\x00\xff\xff\x01\x00\xfe\xff\x02\x00"},
    ),
    "response.audio.done[0]": (
        ev.ResponseOutputAudioDone,
        {"item_id": "item_Ms9Gb1Et2Al3Te4Xt5Pa6", "response_id": "resp_Bt8Re9Sp0On1Se2Ab3Cd4"},
    ),
    "response.audio_transcript.delta[0]": (
        ev.ResponseOutputAudioTranscriptDelta,
        {"delta": "Sure, which"},
    ),
    "response.audio_transcript.done[0]": (
        ev.ResponseOutputAudioTranscriptDone,
        {"transcript": "Sure, which day?"},
    ),
    "transcription_session.created[0]": (
        ev.SessionCreated,
        {
            "type": "session.created",
            "session": ev.TranscriptionSessionProperties(
                id="sess_Bt7Ra8Ns9Cr0Ip1Ti2On3",
                object="realtime.transcription_session",
                expires_at=1790005400,
                include=None,
                audio=ev.AudioConfig(
                    input=ev.AudioInput(
                        format=PCM,
                        transcription=None,
                        noise_reduction=None,
                        turn_detection=ev.ServerVad(
                            threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200
                        ),
                    )
                ),
            ),
        },
    ),
    "transcription_session.updated[0]": (
        ev.SessionUpdated,
        {
            "session.audio.input.format": ev.AudioFormat(type="audio/pcma"),
            "session.audio.input.transcription": ev.InputAudioTranscription(
                model="gpt-4o-transcribe", language="de", prompt=""
            ),
            "session.audio.input.turn_detection": None,
            "session.audio.input.noise_reduction": ev.NoiseReduction(type="near_field"),
            "session.include": ["item.input_audio_transcription.logprobs"],
        },
    ),
    # -- client
    "session.update[0]": (
        ev.SessionUpdate,
        {
            "event_id": "cli_0001",
            "session.output_modalities": ["audio"],
            "session.audio.input.turn_detection": ev.SemanticVad(eagerness="medium"),
            "session.audio.output": ev.AudioOutput(voice="marin"),
            "session.tools[0].parameters.required": ["from", "to"],
            "session.tool_choice": "auto",
            "session.model": NOT_GIVEN,
        },
    ),
    "session.update[1]": (
        ev.SessionUpdate,
        {
            "event_id": NOT_GIVEN,
            "session.audio.input.turn_detection": None,
            "session.audio.input.transcription": ev.InputAudioTranscription(
                model="gpt-4o-transcribe", language="es"
            ),
            "session.include": ["item.input_audio_transcription.logprobs"],
        },
    ),
    "session.update[2]": (
        ev.SessionUpdate,
        {
            "session.audio.input.transcription.language": None,
            "session.audio.input.noise_reduction": ev.NoiseReduction(
                type="far_field", strength=0.7
            ),
            "session.audio.input.turn_detection": ev.ServerVad(
                threshold=0.6,
                prefix_padding_ms=300,
                silence_duration_ms=500,
                create_response=False,
                interrupt_response=True,
                idle_timeout_ms=6000,
            ),
            "session.audio.output.voice": ev.CustomVoice(id="voice_1234abcd"),
            "session.audio.output.speed": 1.25,
            "session.tools[0]": ev.McpTool(
                server_label="deepwiki",
                server_url="https://mcp.deepwiki.com/mcp",
                authorization="Bearer tok_3xAmPlE",
                headers={"X-Tenant": "acme"},
                allowed_tools={"tool_names": ["ask_question"], "read_only": True},
                require_approval="never",
                defer_loading=False,
                allowed_callers=["direct"],
            ),
            "session.tools[1].connector_id": "connector_gmail",
            "session.tools[1].allowed_tools": None,
            "session.tool_choice": ev.ToolChoiceMcp(server_label="deepwiki", name="ask_question"),
            "session.truncation.retention_ratio": 0.5,
            "session.truncation.token_limits.post_instructions": 12000,
            "session.prompt": ev.Prompt(
                id="pmpt_68a1f0c2d3e4",
                version=None,
                variables={"city": "Lisbon", "passengers": 2},
            ),
            "session.max_output_tokens": 4096,
            "session.tracing.metadata": {"env": "staging"},
        },
    ),
    "session.update[3]": (
        ev.SessionUpdate,
        {
            "session.instructions": "",
            "session.tools": [],
            "session.truncation": "disabled",
            "session.tracing": "auto",
            "session.prompt": None,
            "session.reasoning": None,
            "session.audio.input": ev.AudioInput(
                transcription=None, noise_reduction=None, turn_detection=None
            ),
        },
    ),
    "session.update[4]": (
        ev.SessionUpdate,
        {
            "session.tracing": None,
            "session.max_output_tokens": "inf",
            "session.audio.input.turn_detection": ev.ServerVad(idle_timeout_ms=None),
        },
    ),
    "session.update[5]": (  # the beta (flat) shape, rewritten to GA
        ev.SessionUpdate,
        {
            "session.output_modalities": ["audio"],
            "session.audio.output": ev.AudioOutput(
                format=ev.AudioFormat(type="audio/pcmu"), voice="verse"
            ),
            "session.audio.input.format": PCM,
            "session.audio.input.transcription.model": "whisper-1",
            "session.audio.input.turn_detection.threshold": 0.6,
            "session.max_output_tokens": "inf",
            "session.temperature": 0.8,
        },
    ),
    "input_audio_buffer.append[0]": (
        ev.InputAudioBufferAppend,
        {
            "audio": "AAAAAP7/AQD9/wMA+v8HAPT/DwDn/x4A1P8=",
            "audio_bytes()": base64.b64decode("AAAAAP7/AQD9/wMA+v8HAPT/DwDn/x4A1P8="),
            "event_id": NOT_GIVEN,
        },
    ),
    "input_audio_buffer.commit[0]": (
        ev.InputAudioBufferCommit,
        {"event_id": "cli_0002", "type": "input_audio_buffer.commit"},
    ),
    "input_audio_buffer.clear[0]": (ev.InputAudioBufferClear, {"event_id": NOT_GIVEN}),
    "conversation.item.create[0]": (
        ev.ConversationItemCreate,
        {
            "previous_item_id": "item_7QkZr2aLxWm0bN4yPq1Tz",
            "item": ev.MessageItem.user_text("Book the 9am one."),
        },
    ),
    "conversation.item.create[1]": (
        ev.ConversationItemCreate,
        {
            "previous_item_id": NOT_GIVEN,
            "item": ev.FunctionCallOutputItem(
                call_id="call_Qm3xT8vLr1", output='{"booked":true,"pnr":"K7XQ2M"}'
            ),
        },
    ),
    "conversation.item.create[2]": (
        ev.ConversationItemCreate,
        {
            "item": ev.McpApprovalResponseItem(
                id="item_apr_01", approval_request_id="item_9LzX1cVb3NmQ5wEr7TyU9", approve=True
            ),
        },
    ),
    "conversation.item.create[3]": (
        ev.ConversationItemCreate,
        {
            "previous_item_id": "root",
            "item.id": "item_Cl1Ie2Nt3Su4Pp5Li6Ed7",
            "item.content[0].audio_bytes()": b"\x01\x00\x02\x00\xff\xff\x03\x00",
            "item.content[1]": ev.InputImage(
                image_url="data:image/png;base64,iVBORw0KGgo=", detail="high"
            ),
        },
    ),
    "conversation.item.create[4]": (
        ev.ConversationItemCreate,
        {
            "previous_item_id": None,
            "item": ev.MessageItem.system_text("Speak more slowly from now on."),
        },
    ),
    "conversation.item.create[5]": (
        ev.ConversationItemCreate,
        {
            "item.role": "assistant",
            "item.object": "realtime.item",
            "item.content": [ev.OutputText(text="Welcome back! Where to this time?")],
        },
    ),
    "conversation.item.create[6]": (
        ev.ConversationItemCreate,
        {"item.approve": False, "item.reason": "The user declined."},
    ),
    "conversation.item.retrieve[0]": (
        ev.ConversationItemRetrieve,
        {"item_id": A, "event_id": "cli_0003"},
    ),
    "conversation.item.truncate[0]": (
        ev.ConversationItemTruncate,
        {"item_id": A, "content_index": 0, "audio_end_ms": 2340},
    ),
    "conversation.item.delete[0]": (
        ev.ConversationItemDelete,
        {"item_id": "item_2RtY6uIoPa9sDf3gHj1Kl"},
    ),
    "response.create[0]": (ev.ResponseCreate, {"response": NOT_GIVEN, "event_id": NOT_GIVEN}),
    "response.create[1]": (
        ev.ResponseCreate,
        {
            "response": ev.ResponseParams(
                conversation="none",
                output_modalities=["text"],
                metadata={"purpose": "classify"},
                instructions="Label the user's intent in one word.",
                input=[ev.ItemReference(id="item_2RtY6uIoPa9sDf3gHj1Kl")],
            ),
        },
    ),
    "response.create[2]": (
        ev.ResponseCreate,
        {
            "response.conversation": "auto",
            "response.audio.output": ev.AudioOutput(format=PCM, voice="cedar"),
            "response.tools[0].name": "cancel_booking",
            "response.tool_choice": "required",
            "response.parallel_tool_calls": False,
            "response.reasoning": ev.Reasoning(effort="high"),
            "response.max_output_tokens": "inf",
            "response.metadata": None,
            "response.prompt": ev.Prompt(id="pmpt_68a1f0c2d3e4"),
            "response.input[0]": ev.ItemReference(id=U),
            "response.input[1]": ev.MessageItem.user_text("And a window seat."),
            "response.input[2].arguments": TOOL_ARGS,
            "response.input[3]": ev.FunctionCallOutputItem(
                call_id="call_Qm3xT8vLr1", output="2 flights found"
            ),
        },
    ),
    "response.cancel[0]": (ev.ResponseCancel, {"response_id": R, "event_id": NOT_GIVEN}),
    "response.cancel[1]": (
        ev.ResponseCancel,
        {"response_id": NOT_GIVEN, "event_id": "cli_0012"},
    ),
    "output_audio_buffer.clear[0]": (ev.OutputAudioBufferClear, {"event_id": "cli_0005"}),
    "transcription_session.update[0]": (
        ev.TranscriptionSessionUpdate,
        {
            "session": {
                "input_audio_format": "pcm16",
                "input_audio_transcription": {"model": "gpt-4o-transcribe", "language": "de"},
                "turn_detection": None,
            }
        },
    ),
}

# -- documented wire differences ------------------------------------------------------------------

DROP = object()
"""Marks a key that re-encoding leaves out (an unknown field, ignored by the decoder)."""

_GA_PCM = {"type": "audio/pcm", "rate": 24000}

# key -> [(JSON path, value after re-encoding, or DROP)]. Every other example must re-encode to
# exactly its original JSON.
WIRE_CHANGES: dict[str, list[tuple[tuple[str | int, ...], Any]]] = {
    # ``obfuscation`` padding is not part of the model
    "conversation.item.input_audio_transcription.delta[1]": [(("obfuscation",), DROP)],
    "response.output_text.delta[0]": [(("obfuscation",), DROP)],
    "response.output_audio_transcript.delta[0]": [(("obfuscation",), DROP)],
    # beta event names re-encode with the GA names
    "response.text.delta[0]": [(("type",), "response.output_text.delta")],
    "response.text.done[0]": [(("type",), "response.output_text.done")],
    "response.audio.delta[0]": [(("type",), "response.output_audio.delta")],
    "response.audio.done[0]": [(("type",), "response.output_audio.done")],
    "response.audio_transcript.delta[0]": [(("type",), "response.output_audio_transcript.delta")],
    "response.audio_transcript.done[0]": [(("type",), "response.output_audio_transcript.done")],
    # beta session and response shapes re-encode in the GA shape
    "session.created[2]": [
        (
            ("session",),
            {
                "type": "realtime",
                "id": "sess_Be7Ta1Fl2At3Sh4Ap5E6",
                "object": "realtime.session",
                "model": "gpt-4o-realtime-preview-2024-12-17",
                "expires_at": 1790001800,
                "output_modalities": ["audio"],  # GA allows one; audio includes the transcript
                "instructions": "Your knowledge cutoff is 2023-10.",
                "tools": [],
                "tool_choice": "auto",
                "temperature": 0.8,
                "max_output_tokens": "inf",
                "audio": {
                    "input": {
                        "format": _GA_PCM,
                        "transcription": None,
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 200,
                            "create_response": True,
                            "interrupt_response": True,
                        },
                    },
                    "output": {"format": {"type": "audio/pcmu"}, "voice": "alloy"},
                },
            },
        )
    ],
    "response.created[1]": [
        (
            ("response",),
            {
                "object": "realtime.response",
                "id": "resp_Bt8Re9Sp0On1Se2Ab3Cd4",
                "status": "in_progress",
                "status_details": None,
                "output": [],
                "conversation_id": "conv_Be1Ta2Co3Nv4Er5Sa6Ti7",
                "output_modalities": ["audio"],
                "audio": {"output": {"format": _GA_PCM, "voice": "alloy"}},  # temperature: gone
                "max_output_tokens": "inf",
                "usage": None,
                "metadata": None,
            },
        )
    ],
    "transcription_session.created[0]": [
        (("type",), "session.created"),
        (
            ("session",),
            {
                "type": "transcription",
                "id": "sess_Bt7Ra8Ns9Cr0Ip1Ti2On3",
                "object": "realtime.transcription_session",
                "expires_at": 1790005400,
                "include": None,
                "audio": {
                    "input": {
                        "format": _GA_PCM,
                        "transcription": None,
                        "noise_reduction": None,
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 200,
                        },
                    }
                },
                # ``modalities`` and ``client_secret`` have no GA counterpart
            },
        ),
    ],
    "transcription_session.updated[0]": [
        (("type",), "session.updated"),
        (
            ("session",),
            {
                "type": "transcription",
                "id": "sess_Bt7Ra8Ns9Cr0Ip1Ti2On3",
                "object": "realtime.transcription_session",
                "expires_at": 1790005400,
                "include": ["item.input_audio_transcription.logprobs"],
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcma"},
                        "transcription": {
                            "model": "gpt-4o-transcribe",
                            "language": "de",
                            "prompt": "",
                        },
                        "noise_reduction": {"type": "near_field"},
                        "turn_detection": None,
                    }
                },
            },
        ),
    ],
    "session.update[5]": [
        (
            ("session",),
            {
                "type": "realtime",
                "output_modalities": ["audio"],
                "tools": [],
                "temperature": 0.8,
                "max_output_tokens": "inf",
                "audio": {
                    "input": {
                        "format": _GA_PCM,
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.6,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 500,
                        },
                    },
                    "output": {"format": {"type": "audio/pcmu"}, "voice": "verse"},
                },
            },
        )
    ],
}


def _apply_changes(key: str, original: Any) -> Any:
    result = copy.deepcopy(original)
    for path, value in WIRE_CHANGES.get(key, []):
        *parents, last = path
        target = result
        for step in parents:
            target = target[step]
        if value is DROP:
            del target[last]
        else:
            target[last] = value
    return result


# -- helpers --------------------------------------------------------------------------------------


def _get(obj: Any, path: str) -> Any:
    """Follow ``a.b[0].c()`` from ``obj``."""
    for step in path.split("."):
        call = step.endswith("()")
        name, *indexes = step.removesuffix("()").replace("]", "").split("[")
        obj = obj[name] if isinstance(obj, dict) else getattr(obj, name)
        for index in indexes:
            obj = obj[int(index)]
        if call:
            obj = obj()
    return obj


def _walk(obj: Any) -> Iterator[Any]:
    """Every model object and value inside ``obj``."""
    yield obj
    if attrs.has(type(obj)):
        for field in attrs.fields(type(obj)):
            yield from _walk(getattr(obj, field.name))
    elif isinstance(obj, list):
        for value in obj:
            yield from _walk(value)


UNKNOWN_OR_INVALID = (
    ev.UnknownServerEvent,
    ev.InvalidServerEvent,
    ev.UnknownClientEvent,
    ev.InvalidClientEvent,
    ev.UnknownItem,
    ev.UnknownContentPart,
    ev.UnknownTool,
    ev.UnknownTurnDetection,
)

# -- the examples ---------------------------------------------------------------------------------


def test_example_keys_are_unique_and_all_have_expectations() -> None:
    keys = [key for _, key, _ in ALL_EXAMPLES]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(EXPECTED), "EXPECTED and the data files disagree"
    assert set(WIRE_CHANGES) <= set(keys)


@pytest.mark.parametrize(("side", "key", "line"), ALL_EXAMPLES, ids=[k for _, k, _ in ALL_EXAMPLES])
def test_example_decodes_to_expected_values(side: str, key: str, line: str) -> None:
    event = DECODE[side](line)
    cls, checks = EXPECTED[key]
    assert type(event) is cls
    assert checks
    for path, expected in checks.items():
        actual = _get(event, path)
        assert actual == expected, path
        assert type(actual) is type(expected), path  # 0 is not False, 1 is not 1.0
    for value in _walk(event):
        assert not isinstance(value, UNKNOWN_OR_INVALID), value


@pytest.mark.parametrize(("side", "key", "line"), ALL_EXAMPLES, ids=[k for _, k, _ in ALL_EXAMPLES])
def test_example_round_trips(side: str, key: str, line: str) -> None:
    decode, encode = DECODE[side], ENCODE[side]
    event = decode(line)
    text = encode(event)
    assert decode(text) == event
    assert decode(line.encode("utf-8")) == event  # bytes in: the same
    assert decode(line, strict=True) == event
    assert encode(decode(text)) == text


@pytest.mark.parametrize(("side", "key", "line"), ALL_EXAMPLES, ids=[k for _, k, _ in ALL_EXAMPLES])
def test_example_reencodes_to_the_same_json(side: str, key: str, line: str) -> None:
    original = orjson.loads(line)
    expected = _apply_changes(key, original)
    assert orjson.loads(ENCODE[side](DECODE[side](line))) == expected
    if key in WIRE_CHANGES:
        assert expected != original  # the listed difference is real, not stale


def test_every_server_type_has_an_example() -> None:
    tags = {orjson.loads(line)["type"] for _, line in SERVER_EXAMPLES}
    assert tags == {cls.TYPE for cls in ev.SERVER_EVENT_CLASSES} | set(ev.BETA_ALIASES)
    classes = {type(ev.decode_server_event(line)) for _, line in SERVER_EXAMPLES}
    assert classes == set(ev.SERVER_EVENT_CLASSES)
    assert len(ev.SERVER_EVENT_CLASSES) == 46
    assert len(ev.BETA_ALIASES) == 8


def test_every_client_type_has_an_example() -> None:
    tags = {orjson.loads(line)["type"] for _, line in CLIENT_EXAMPLES}
    assert tags == {cls.TYPE for cls in ev.CLIENT_EVENT_CLASSES}
    classes = {type(ev.decode_client_event(line)) for _, line in CLIENT_EXAMPLES}
    assert classes == set(ev.CLIENT_EVENT_CLASSES)
    assert len(ev.CLIENT_EVENT_CLASSES) == 12


def test_beta_aliases_decode_like_their_ga_names() -> None:
    by_key = dict(SERVER_EXAMPLES)
    for beta, cls in ev.BETA_ALIASES.items():
        line = by_key[f"{beta}[0]"]
        event = ev.decode_server_event(line)
        assert type(event) is cls
        assert event.type == cls.TYPE
        ga_line = orjson.dumps({**orjson.loads(line), "type": cls.TYPE})
        assert ev.decode_server_event(ga_line) == event


# -- the failure policy ---------------------------------------------------------------------------

SIDES = [
    pytest.param(ev.decode_server_event, ev.InvalidServerEvent, ev.UnknownServerEvent, id="server"),
    pytest.param(ev.decode_client_event, ev.InvalidClientEvent, ev.UnknownClientEvent, id="client"),
]


@pytest.mark.parametrize(("decode", "invalid", "unknown"), SIDES)
@pytest.mark.parametrize(
    "frame", ["", "{", '{"type": "error",', "not json", "{'type': 'error'}", "[1, 2"]
)
def test_invalid_json(decode: Decode, invalid: type[Any], unknown: type[Any], frame: str) -> None:
    event = decode(frame)
    assert type(event) is invalid
    assert event.type == ""
    assert event.event_id == ""
    assert event.raw == frame
    assert event.error.startswith("invalid JSON")
    assert decode(frame.encode()) == event
    with pytest.raises(trealtime.RemoteProtocolError) as info:
        decode(frame, strict=True)
    assert info.value.raw == frame


@pytest.mark.parametrize(("decode", "invalid", "unknown"), SIDES)
def test_invalid_utf8_bytes(decode: Decode, invalid: type[Any], unknown: type[Any]) -> None:
    frame = b'{"type": "error", "event_id": "\xff\xfe"}'
    event = decode(frame)
    assert type(event) is invalid
    assert event.error.startswith("invalid JSON")
    assert event.raw == frame.decode("utf-8", "replace")
    with pytest.raises(trealtime.RemoteProtocolError):
        decode(frame, strict=True)


@pytest.mark.parametrize(("decode", "invalid", "unknown"), SIDES)
@pytest.mark.parametrize("frame", ["[1, 2]", "[]", "42", "1.5", '"hello"', '"0"', "null", "true"])
def test_non_object(decode: Decode, invalid: type[Any], unknown: type[Any], frame: str) -> None:
    """Anything but a JSON object keeps the frame's text as ``raw`` (so it re-encodes exactly)."""
    event = decode(frame)
    assert type(event) is invalid
    assert (event.type, event.event_id) == ("", "")
    assert event.raw == frame
    assert "object" in event.error
    with pytest.raises(trealtime.RemoteProtocolError) as info:
        decode(frame, strict=True)
    assert info.value.raw == frame


@pytest.mark.parametrize(("decode", "invalid", "unknown"), SIDES)
@pytest.mark.parametrize(
    "frame",
    [
        '{"event_id": "event_1", "item_id": "item_1"}',
        '{"type": 5, "event_id": "event_1"}',
        '{"type": null, "event_id": "event_1"}',
        '{"type": ["error"], "event_id": "event_1"}',
        '{"type": {"name": "error"}, "event_id": "event_1"}',
    ],
)
def test_missing_or_non_string_type(
    decode: Decode, invalid: type[Any], unknown: type[Any], frame: str
) -> None:
    event = decode(frame)
    assert type(event) is invalid
    assert event.type == ""
    assert event.event_id == "event_1"
    assert event.raw == orjson.loads(frame)
    assert "type" in event.error
    with pytest.raises(trealtime.RemoteProtocolError) as info:
        decode(frame, strict=True)
    assert info.value.raw == orjson.loads(frame)


@pytest.mark.parametrize(("decode", "invalid", "unknown"), SIDES)
@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "response.output_video.delta", "event_id": "event_V1", "delta": "AAAA"}',
        '{"type": "session.closed", "event_id": "event_V2"}',
        '{"type": "", "event_id": "event_V3"}',
        '{"type": "Response.Done", "event_id": "event_V4", "response": {}}',
    ],
)
def test_unknown_type(decode: Decode, invalid: type[Any], unknown: type[Any], frame: str) -> None:
    raw = orjson.loads(frame)
    for event in (decode(frame), decode(frame.encode()), decode(frame, strict=True)):
        assert type(event) is unknown
        assert event.type == raw["type"]
        assert event.event_id == raw["event_id"]
        assert event.raw == raw


def test_unknown_events_encode_their_raw_json() -> None:
    frame = '{"type":"session.closed","event_id":"event_V2","reason":"done"}'
    server = ev.decode_server_event(frame)
    assert orjson.loads(ev.encode_server_event(server)) == orjson.loads(frame)
    client = ev.decode_client_event('{"type":"session.close","event_id":"cli_9"}')
    assert client == ev.UnknownClientEvent(
        type="session.close", event_id="cli_9", raw={"type": "session.close", "event_id": "cli_9"}
    )
    assert orjson.loads(ev.encode_client_event(client)) == client.raw
    assert ev.decode_server_event('{"type":"x"}').event_id == ""  # no event_id: ""


# (frame, the field the error must name)
BROKEN_SERVER = [
    ('{"type":"conversation.item.deleted","event_id":"event_1"}', "item_id"),
    (
        '{"type":"conversation.item.truncated","event_id":"event_1","item_id":"item_1",'
        '"audio_end_ms":5}',
        "content_index",
    ),
    ('{"type":"error","event_id":"event_1","error":{"type":"server_error"}}', "message"),
    (
        '{"type":"conversation.item.added","event_id":"event_1","item":{"type":"message",'
        '"content":[]}}',
        "role",
    ),
    (
        '{"type":"response.content_part.added","event_id":"event_1","response_id":"r",'
        '"item_id":"i","output_index":0,"content_index":0,"part":{"type":"text","text":5}}',
        "text",
    ),
    (
        '{"type":"session.updated","event_id":"event_1","session":{"type":"realtime",'
        '"tools":[{"type":"function","name":["get_weather"]}]}}',
        "name",
    ),
    # wrongly typed fields
    (
        '{"type":"conversation.item.truncated","event_id":"event_1","item_id":"item_1",'
        '"content_index":"0","audio_end_ms":5}',
        "content_index",
    ),
    ('{"type":"conversation.item.deleted","event_id":"event_1","item_id":42}', "item_id"),
    (
        '{"type":"input_audio_buffer.speech_started","event_id":"event_1","audio_start_ms":1.5,'
        '"item_id":"item_1"}',
        "audio_start_ms",
    ),
    (
        '{"type":"response.done","event_id":"event_1","response":{"usage":{"total_tokens":"12"}}}',
        "total_tokens",
    ),
    (
        '{"type":"session.created","event_id":"event_1","session":{"type":"realtime",'
        '"audio":{"input":{"turn_detection":{"type":"server_vad","threshold":"high"}}}}}',
        "threshold",
    ),
    (
        '{"type":"conversation.item.done","event_id":"event_1","item":{"type":"mcp_approval_'
        'response","approval_request_id":"a","approve":"yes"}}',
        "approve",
    ),
    (
        '{"type":"rate_limits.updated","event_id":"event_1","rate_limits":{"name":"tokens"}}',
        "rate_limits",
    ),
    # a string, a list or an object where the other is expected
    ('{"type":"rate_limits.updated","event_id":"event_1","rate_limits":{}}', "rate_limits"),
    ('{"type":"rate_limits.updated","event_id":"event_1","rate_limits":["tokens"]}', "rate_limits"),
    ('{"type":"response.done","event_id":"event_1","response":"resp_1"}', "response"),
    ('{"type":"response.created","event_id":"event_1","response":[]}', "response"),
    (
        '{"type":"conversation.item.input_audio_transcription.failed","event_id":"event_1",'
        '"item_id":"item_1","content_index":0,"error":"transcription failed"}',
        "error",
    ),
    (
        '{"type":"session.created","event_id":"event_1","session":{"type":"realtime",'
        '"output_modalities":"audio"}}',
        "output_modalities",
    ),
    (
        '{"type":"conversation.item.added","event_id":"event_1","item":{"type":"message",'
        '"role":"user","content":""}}',
        "content",
    ),
]


@pytest.mark.parametrize(
    ("frame", "field"),
    BROKEN_SERVER,
    ids=[f"{i}-{field}" for i, (_, field) in enumerate(BROKEN_SERVER)],
)
def test_known_type_with_a_bad_body_is_invalid(frame: str, field: str) -> None:
    raw = orjson.loads(frame)
    event = ev.decode_server_event(frame)
    assert type(event) is ev.InvalidServerEvent
    assert event.type == raw["type"]
    assert event.event_id == "event_1"
    assert event.raw == raw
    assert field in event.error, event.error
    assert ev.decode_server_event(frame.encode()) == event
    with pytest.raises(trealtime.RemoteProtocolError) as info:
        ev.decode_server_event(frame, strict=True)
    assert info.value.raw == raw
    assert field in str(info.value)
    assert orjson.loads(ev.encode_server_event(event)) == raw  # re-sent unchanged


BROKEN_CLIENT = [
    ('{"type":"input_audio_buffer.append","event_id":"cli_1"}', "audio"),
    ('{"type":"conversation.item.truncate","event_id":"cli_1","item_id":"i"}', "content_index"),
    (
        '{"type":"session.update","event_id":"cli_1","session":{"type":"realtime",'
        '"max_output_tokens":"lots"}}',
        "max_output_tokens",
    ),
    (
        '{"type":"conversation.item.create","event_id":"cli_1","item":{"type":"function_call_output",'
        '"call_id":"c","output":{"ok":true}}}',
        "output",
    ),
    ('{"type":"response.create","event_id":"cli_1","response":{"metadata":{"n":1}}}', "metadata"),
]


@pytest.mark.parametrize(
    ("frame", "field"),
    BROKEN_CLIENT,
    ids=[f"{i}-{field}" for i, (_, field) in enumerate(BROKEN_CLIENT)],
)
def test_client_event_with_a_bad_body_is_invalid(frame: str, field: str) -> None:
    raw = orjson.loads(frame)
    event = ev.decode_client_event(frame)
    assert type(event) is ev.InvalidClientEvent
    assert (event.type, event.event_id, event.raw) == (raw["type"], "cli_1", raw)
    assert field in event.error, event.error
    with pytest.raises(trealtime.RemoteProtocolError) as info:
        ev.decode_client_event(frame, strict=True)
    assert info.value.raw == raw
    assert orjson.loads(ev.encode_client_event(event)) == raw


def test_session_update_without_a_known_session_type_is_invalid() -> None:
    frame = '{"type":"session.update","session":{"type":"translation","model":"gpt-realtime"}}'
    event = ev.decode_client_event(frame)
    assert type(event) is ev.InvalidClientEvent
    assert "session" in event.error


@pytest.mark.parametrize("cls", [ev.Response, ev.Usage, ev.ErrorInfo])
@pytest.mark.parametrize("value", ["resp_1", [], 5])
def test_from_dict_rejects_a_non_object(cls: type[Any], value: Any) -> None:
    with pytest.raises(ValueError, match=r"."):
        ev.from_dict(value, cls)


def test_unknown_extra_fields_are_ignored() -> None:
    by_key = dict(SERVER_EXAMPLES)
    line = by_key["response.done[4]"]
    plain = ev.decode_server_event(line)
    noisy = orjson.loads(line)
    noisy["obfuscation"] = "Zx81"
    noisy["future_field"] = {"nested": [1, 2, 3]}
    noisy["response"]["future_flag"] = True
    noisy["response"]["usage"]["output_token_details"]["video_tokens"] = 7
    noisy["response"]["output"][0]["server_version"] = "2.1"
    noisy["response"]["output"][1]["content"][0]["voice_id"] = "v1"
    assert ev.decode_server_event(orjson.dumps(noisy), strict=True) == plain
    assert orjson.loads(ev.encode_server_event(plain)) == orjson.loads(line)


def test_unknown_nested_variants_keep_their_raw_json() -> None:
    session: dict[str, Any] = {
        "type": "realtime",
        "tools": [{"type": "web_search", "search_context_size": "low"}],
        "audio": {"input": {"turn_detection": {"type": "neural_vad", "sensitivity": 3}}},
    }
    item = {
        "id": "item_Ws1",
        "type": "web_search_call",
        "status": "completed",
        "queries": ["flights BER LIS"],
    }
    part = {"type": "output_video", "url": "https://example.invalid/v.mp4"}
    frames = [
        {"type": "session.updated", "event_id": "event_1", "session": session},
        {"type": "conversation.item.done", "event_id": "event_2", "item": item},
        {
            "type": "conversation.item.added",
            "event_id": "event_3",
            "previous_item_id": None,
            "item": {"id": "item_M1", "type": "message", "role": "assistant", "content": [part]},
        },
    ]
    decoded = [ev.decode_server_event(orjson.dumps(frame), strict=True) for frame in frames]
    updated, done, added = decoded
    assert isinstance(updated, ev.SessionUpdated)
    assert isinstance(updated.session, ev.SessionProperties)
    assert updated.session.tools == [ev.UnknownTool(type="web_search", raw=session["tools"][0])]
    assert updated.session.audio == ev.AudioConfig(
        input=ev.AudioInput(
            turn_detection=ev.UnknownTurnDetection(
                type="neural_vad", raw={"type": "neural_vad", "sensitivity": 3}
            )
        )
    )
    assert isinstance(done, ev.ConversationItemDone)
    assert done.item == ev.UnknownItem(type="web_search_call", raw=item)
    assert done.item.id == "item_Ws1"
    assert isinstance(added, ev.ConversationItemAdded)
    assert isinstance(added.item, ev.MessageItem)
    assert added.item.content == [ev.UnknownContentPart(type="output_video", raw=part)]
    for frame, event in zip(frames, decoded, strict=True):
        assert orjson.loads(ev.encode_server_event(event)) == frame


# -- null versus absent ---------------------------------------------------------------------------


def test_null_is_sent_as_null() -> None:
    update = ev.SessionUpdate(
        session=ev.SessionProperties(
            audio=ev.AudioConfig(
                input=ev.AudioInput(turn_detection=None, transcription=None, noise_reduction=None)
            ),
            tracing=None,
            prompt=None,
        )
    )
    text = ev.encode_client_event(update)
    assert '"turn_detection":null' in text
    assert orjson.loads(text) == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {
                "input": {"turn_detection": None, "transcription": None, "noise_reduction": None}
            },
            "tracing": None,
            "prompt": None,
        },
    }
    assert ev.decode_client_event(text) == update
    create = ev.ConversationItemCreate(item=ev.MessageItem.user_text("hi"), previous_item_id=None)
    assert orjson.loads(ev.encode_client_event(create))["previous_item_id"] is None
    assert ev.decode_client_event(ev.encode_client_event(create)) == create


def test_not_given_is_left_out() -> None:
    assert ev.encode_client_event(ev.ResponseCreate()) == '{"type":"response.create"}'
    assert ev.encode_client_event(ev.InputAudioBufferCommit()) == (
        '{"type":"input_audio_buffer.commit"}'
    )
    assert orjson.loads(
        ev.encode_client_event(ev.SessionUpdate(session=ev.SessionProperties()))
    ) == {
        "type": "session.update",
        "session": {"type": "realtime"},
    }
    server = ev.encode_server_event(ev.ConversationItemDeleted(item_id="item_1"))
    assert orjson.loads(server) == {"type": "conversation.item.deleted", "item_id": "item_1"}
    # and absent fields decode as NOT_GIVEN, not None
    decoded = ev.decode_client_event('{"type":"session.update","session":{"type":"realtime"}}')
    assert isinstance(decoded, ev.SessionUpdate)
    assert decoded.session == ev.SessionProperties()
    assert decoded.session.tracing is NOT_GIVEN
    assert decoded.event_id is NOT_GIVEN


def test_null_and_absent_decode_differently() -> None:
    absent = ev.decode_server_event(
        '{"type":"input_audio_buffer.committed","event_id":"e","item_id":"item_1"}'
    )
    null = ev.decode_server_event(
        '{"type":"input_audio_buffer.committed","event_id":"e","item_id":"item_1",'
        '"previous_item_id":null}'
    )
    assert isinstance(absent, ev.InputAudioBufferCommitted)
    assert isinstance(null, ev.InputAudioBufferCommitted)
    assert absent.previous_item_id is NOT_GIVEN
    assert null.previous_item_id is None
    assert "previous_item_id" not in orjson.loads(ev.encode_server_event(absent))
    assert orjson.loads(ev.encode_server_event(null))["previous_item_id"] is None


# -- audio helpers --------------------------------------------------------------------------------

PCM_BYTES = bytes(range(256)) * 4  # 1024 bytes, every byte value


def test_input_audio_buffer_append_from_bytes() -> None:
    event = ev.InputAudioBufferAppend.from_bytes(PCM_BYTES, event_id="cli_7")
    assert event.audio == base64.b64encode(PCM_BYTES).decode("ascii")
    assert event.audio_bytes() == PCM_BYTES
    assert event.event_id == "cli_7"
    decoded = ev.decode_client_event(ev.encode_client_event(event))
    assert decoded == event
    assert isinstance(decoded, ev.InputAudioBufferAppend)
    assert decoded.audio_bytes() == PCM_BYTES
    assert ev.InputAudioBufferAppend.from_bytes(b"").audio_bytes() == b""
    assert ev.InputAudioBufferAppend.from_bytes(b"").event_id is NOT_GIVEN


def test_output_audio_delta_bytes() -> None:
    delta = ev.ResponseOutputAudioDelta(
        response_id=R,
        item_id=A,
        output_index=0,
        content_index=0,
        delta=base64.b64encode(PCM_BYTES).decode(),
    )
    decoded = ev.decode_server_event(ev.encode_server_event(delta))
    assert isinstance(decoded, ev.ResponseOutputAudioDelta)
    assert decoded.audio_bytes() == PCM_BYTES


def test_content_part_audio_bytes() -> None:
    part = ev.InputAudio(audio=base64.b64encode(PCM_BYTES).decode(), transcript=None)
    assert part.audio_bytes() == PCM_BYTES
    assert ev.InputAudio().audio_bytes() == b""
    assert ev.OutputAudio(audio=base64.b64encode(b"\x01\x02").decode()).audio_bytes() == b"\x01\x02"
    assert ev.OutputAudio(transcript="hi").audio_bytes() == b""
    item = ev.MessageItem(role="user", content=[part])
    assert ev.from_dict(ev.to_dict(item), ev.MessageItem) == item


def test_a_wrong_type_in_an_optional_field_names_the_type_wanted_not_the_sentinel() -> None:
    event = ev.decode_server_event('{"type": "response.done", "response": {"status": 5}}')
    assert isinstance(event, ev.InvalidServerEvent)
    assert event.error == "invalid value for type, expected str @ $.response.status"
