"""Per-response latency, status and token usage, and their session totals. Sans-IO.

Each response is timed from a start point, chosen when its ``response.created`` arrives:

- a response created by one of our ``response.create`` requests, recognised by its tag, starts
  when that request was sent;
- otherwise it starts at the later of the last ``speech_stopped`` and the last untagged
  ``response.create`` not yet used by an earlier response; both are then used up;
- with neither, it starts at its own ``response.created``.

Tagged responses leave ``speech_stopped`` alone, so that an out-of-band response requested while
the server is answering the user does not take the user's turn as its start.

Time is passed in as ``now``, in seconds of a monotonic clock; nothing here reads a clock.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal, overload

import attrs

from .._wire._notgiven import is_given
from .._wire._response_models import ErrorInfo, Response, Usage

__all__ = ["MetricsTracker", "ResponseMetrics", "StartPoint", "TokenTotals", "format_metrics"]

StartPoint = Literal["speech_stopped", "response.create", "response.created"]

_REQUESTS_KEPT = 16


class _UsageCount:
    """A token count read from ``usage`` along a path of attributes; None if not reported."""

    def __init__(self, *path: str) -> None:
        self._path = path

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> _UsageCount: ...
    @overload
    def __get__(self, instance: ResponseMetrics, owner: type[Any]) -> int | None: ...
    def __get__(
        self, instance: ResponseMetrics | None, owner: type[Any]
    ) -> _UsageCount | int | None:
        if instance is None:
            return self
        value: object = instance.usage
        for name in self._path:
            value = getattr(value, name, None)  # None and NOT_GIVEN have none of these names
        return value if isinstance(value, int) else None


@attrs.frozen(kw_only=True)
class ResponseMetrics:
    """How one response went: its latencies (in seconds), how it ended, and its token usage."""

    response_id: str
    status: str
    """``completed``, ``cancelled``, ``incomplete`` or ``failed`` (``unknown`` if not sent)."""
    status_reason: str | None = None
    """Why it ended so, such as ``turn_detected`` or ``client_cancelled``."""
    error: ErrorInfo | None = None
    started_from: StartPoint
    """What the latencies are measured from (see the module documentation)."""
    time_to_first_audio: float | None = None
    time_to_first_text: float | None = None
    """Until the first text or audio transcript delta."""
    processing_time: float
    """From the start point to ``response.done``."""
    audio_ms_received: float = 0.0
    usage: Usage | None = None

    input_tokens = _UsageCount("input_tokens")
    output_tokens = _UsageCount("output_tokens")
    total_tokens = _UsageCount("total_tokens")
    cached_tokens = _UsageCount("input_token_details", "cached_tokens")
    input_audio_tokens = _UsageCount("input_token_details", "audio_tokens")
    input_text_tokens = _UsageCount("input_token_details", "text_tokens")
    input_image_tokens = _UsageCount("input_token_details", "image_tokens")
    output_audio_tokens = _UsageCount("output_token_details", "audio_tokens")
    output_text_tokens = _UsageCount("output_token_details", "text_tokens")
    cached_audio_tokens = _UsageCount(
        "input_token_details", "cached_tokens_details", "audio_tokens"
    )
    cached_text_tokens = _UsageCount("input_token_details", "cached_tokens_details", "text_tokens")
    cached_image_tokens = _UsageCount(
        "input_token_details", "cached_tokens_details", "image_tokens"
    )


@attrs.frozen(kw_only=True)
class TokenTotals:
    """Token counts summed over responses; a count a response did not report adds 0."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    input_audio_tokens: int = 0
    input_text_tokens: int = 0
    input_image_tokens: int = 0
    output_audio_tokens: int = 0
    output_text_tokens: int = 0
    cached_audio_tokens: int = 0
    cached_text_tokens: int = 0
    cached_image_tokens: int = 0

    def add(self, metrics: ResponseMetrics) -> TokenTotals:
        """These totals plus the usage of one response."""
        names = (field.name for field in attrs.fields(TokenTotals))
        return TokenTotals(
            **{name: getattr(self, name) + (getattr(metrics, name) or 0) for name in names}
        )


@attrs.define
class _InProgress:
    started_from: StartPoint
    start: float
    first_audio: float | None = None
    first_text: float | None = None
    audio_bytes: int = 0


@attrs.define(eq=False)
class MetricsTracker:
    """Times responses from server events and keeps session totals."""

    bytes_per_ms: int = attrs.field(default=48, validator=attrs.validators.gt(0))
    """Bytes per millisecond of output audio: 48 for 24 kHz PCM16, 8 for G.711."""
    statuses: Counter[str] = attrs.field(factory=Counter, init=False)
    """How many responses ended with each status."""
    tokens: TokenTotals = attrs.field(factory=TokenTotals, init=False)
    last: ResponseMetrics | None = attrs.field(default=None, init=False)
    """The metrics of the most recent ``response.done``."""
    _speech_stopped_at: float | None = attrs.field(default=None, init=False)
    _create_sent_at: float | None = attrs.field(default=None, init=False)
    _requests: dict[str, float] = attrs.field(factory=dict, init=False)
    _in_progress: dict[str, _InProgress] = attrs.field(factory=dict, init=False)
    _done: dict[str, ResponseMetrics] = attrs.field(factory=dict, init=False)
    """The latest finished responses, so that a repeated ``response.done`` counts once."""

    @property
    def responses_completed(self) -> int:
        """Responses that ended ``completed``."""
        return self.statuses["completed"]

    @property
    def responses_cancelled(self) -> int:
        """Responses that ended ``cancelled``."""
        return self.statuses["cancelled"]

    @property
    def responses_incomplete(self) -> int:
        """Responses that ended ``incomplete``."""
        return self.statuses["incomplete"]

    @property
    def responses_failed(self) -> int:
        """Responses that ended ``failed``."""
        return self.statuses["failed"]

    def on_speech_stopped(self, now: float) -> None:
        """The server's VAD saw the user stop speaking."""
        self._speech_stopped_at = now

    def on_response_create_sent(self, now: float, *, tag: str | None = None) -> None:
        """A ``response.create`` went out; ``tag`` is the one its ``metadata`` carries, if any."""
        if tag is None:
            self._create_sent_at = now
            return
        self._requests[tag] = now
        if len(self._requests) > _REQUESTS_KEPT:  # requests the server refused never come back
            del self._requests[next(iter(self._requests))]

    def on_response_created(self, response_id: str, now: float, *, tag: str | None = None) -> None:
        """A ``response.created`` arrived; ``tag`` is our request's tag found in its metadata.

        Output that arrived before it (events can overtake each other) already opened the
        response's record, which is kept; only our own request's send time may refine its start.
        """
        record = self._in_progress.get(response_id)
        if record is None:
            self._in_progress[response_id] = self._start(now, tag)
        elif tag is not None and tag in self._requests:
            record.start, record.started_from = self._requests.pop(tag), "response.create"

    def on_output_audio(self, response_id: str, nbytes: int, now: float) -> None:
        """A ``response.output_audio.delta`` of ``nbytes`` decoded bytes arrived."""
        record = self._record(response_id, now)
        if record.first_audio is None and nbytes > 0:
            record.first_audio = now
        record.audio_bytes += nbytes

    def on_output_text(self, response_id: str, now: float) -> None:
        """A text or audio transcript delta arrived."""
        record = self._record(response_id, now)
        if record.first_text is None:
            record.first_text = now

    def on_response_done(self, response: Response, now: float) -> ResponseMetrics:
        """A ``response.done`` arrived: the response's metrics, also added to the totals.

        A repeated ``response.done`` for the same response is not counted again.
        """
        response_id = response.id if is_given(response.id) else ""
        if response_id in self._done:
            return self._done[response_id]
        record = self._in_progress.pop(response_id, None) or self._start(now, None)
        details = response.status_details if is_given(response.status_details) else None
        reason = details.reason if details is not None and is_given(details.reason) else None
        error = details.error if details is not None else None
        metrics = ResponseMetrics(
            response_id=response_id,
            status=response.final_status,
            status_reason=reason,
            error=error if isinstance(error, ErrorInfo) else None,
            started_from=record.started_from,
            time_to_first_audio=_since(record.start, record.first_audio),
            time_to_first_text=_since(record.start, record.first_text),
            processing_time=now - record.start,
            audio_ms_received=record.audio_bytes / self.bytes_per_ms,
            usage=response.usage if isinstance(response.usage, Usage) else None,
        )
        self.statuses[metrics.status] += 1
        self.tokens = self.tokens.add(metrics)
        self.last = metrics
        if response_id:
            self._done[response_id] = metrics
            if len(self._done) > _REQUESTS_KEPT:
                del self._done[next(iter(self._done))]
        return metrics

    def clear_in_progress(self) -> None:
        """Forget responses in progress and pending start points (after a disconnect)."""
        self._in_progress.clear()
        self._requests.clear()
        self._speech_stopped_at = self._create_sent_at = None

    def _record(self, response_id: str, now: float) -> _InProgress:
        record = self._in_progress.get(response_id)
        if record is None:  # its response.created was missed
            record = self._in_progress[response_id] = self._start(now, None)
        return record

    def _start(self, now: float, tag: str | None) -> _InProgress:
        if tag is not None and tag in self._requests:
            return _InProgress(started_from="response.create", start=self._requests.pop(tag))
        speech, create = self._speech_stopped_at, self._create_sent_at
        self._speech_stopped_at = self._create_sent_at = None
        if create is not None and (speech is None or create >= speech):
            return _InProgress(started_from="response.create", start=create)
        if speech is not None:
            return _InProgress(started_from="speech_stopped", start=speech)
        return _InProgress(started_from="response.created", start=now)


def _since(start: float, end: float | None) -> float | None:
    return None if end is None else end - start


def format_metrics(m: ResponseMetrics) -> str:
    """One log line for a response's metrics."""
    status = m.status if m.status_reason is None else f"{m.status} ({m.status_reason})"
    line = (
        f"response {m.response_id} {status} from {m.started_from}: "
        f"processing {_ms(m.processing_time)}, first audio {_ms(m.time_to_first_audio)}, "
        f"first text {_ms(m.time_to_first_text)}, audio {m.audio_ms_received:.0f} ms, "
        f"tokens in {_count(m.input_tokens)} (cached {_count(m.cached_tokens)}) "
        f"out {_count(m.output_tokens)}"
    )
    if m.error is not None:
        line += f", error {_count(m.error.code)}: {_count(m.error.message)}"
    return line


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _count(value: object) -> str:
    return " ".join(str(value).split()) if isinstance(value, int | str) else "-"
