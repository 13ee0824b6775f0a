"""Which assistant audio is playing, and where to cut it on interruption. Sans-IO.

The server sends audio much faster than real time, so on an interruption the client must tell
it how much the user actually heard (``conversation.item.truncate``). :class:`PlaybackTracker`
follows the audio deltas and computes that point:

- Only the last audio item is tracked (as pipecat does): a new item of the same response, or a
  new response, replaces the tracked one, with its clock and byte count starting afresh.
- The played position comes from the application (:meth:`PlaybackTracker.report_played`) when
  it reports; otherwise it is wall-clock time since the item's first delta. Once the application
  has reported anything, an item it has not reported on counts as not played yet, because wall
  clock would then overstate what a buffering sink has played.
- The position is clamped to the audio received: the server rejects ``audio_end_ms`` past the
  end of the item's audio ("Audio content of 6100ms is already shorter than 6185ms").
- An item with no audio received is never truncated (the server answers "Only model output audio
  messages can be truncated"). An item with audio may be truncated at 0 ms: the server accepts
  it, and it is how "the user heard none of this" is said.
- Nothing is truncated once playback has finished: everything received was played and the
  response is done. Truncating then would only delete the item's transcript.

Time is passed in as ``now``, in seconds of a monotonic clock; nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque

import attrs

__all__ = ["CurrentAudioResponse", "PlaybackTracker", "Truncation"]

_CLOSED_ITEMS_KEPT = 8


@attrs.frozen(kw_only=True)
class CurrentAudioResponse:
    """The assistant audio item being tracked: the last one that received audio."""

    response_id: str
    item_id: str
    content_index: int
    start_time_ms: float
    """When its first delta arrived, in milliseconds of the caller's clock (``now * 1000``)."""
    total_size: int = 0
    """Bytes of audio received for it."""


@attrs.frozen(kw_only=True)
class Truncation:
    """Where to cut an assistant audio item: the body of ``conversation.item.truncate``."""

    item_id: str
    content_index: int
    audio_end_ms: int


def _closed_items() -> deque[str]:
    return deque(maxlen=_CLOSED_ITEMS_KEPT)


@attrs.define(eq=False)
class PlaybackTracker:
    """Tracks the assistant audio being played and computes where to truncate it.

    Feed it the server's audio deltas and response ends; let the application report what it
    has played; ask :meth:`take_truncation` on an interruption.
    """

    bytes_per_ms: int = attrs.field(default=48, validator=attrs.validators.gt(0))
    """Bytes per millisecond of output audio: 48 for 24 kHz PCM16, 8 for G.711.

    Set it when the output format changes, between responses: bytes already counted are
    converted at the new rate.
    """
    _current: CurrentAudioResponse | None = attrs.field(default=None, init=False)
    _response_done: bool = attrs.field(default=False, init=False)
    # The current response's audio items, with the position the application reported, if any.
    _played: dict[str, float | None] = attrs.field(factory=dict, init=False)
    _app_reports: bool = attrs.field(default=False, init=False)
    # Items already truncated: late deltas for them must not start tracking again.
    _closed: deque[str] = attrs.field(factory=_closed_items, init=False)
    # The current item's byte count, kept apart from the frozen record: counting it up on every
    # delta (the hot path) must not build a new record each time.
    _received: int = attrs.field(default=0, init=False)

    @property
    def current(self) -> CurrentAudioResponse | None:
        """The item that an interruption would truncate, if any."""
        current = self._current
        if current is None or current.total_size == self._received:
            return current
        self._current = attrs.evolve(current, total_size=self._received)
        return self._current

    @property
    def received_ms(self) -> float:
        """Milliseconds of audio received for the current item (0 without one)."""
        return 0.0 if self._current is None else self._received / self.bytes_per_ms

    @property
    def played_ms(self) -> float | None:
        """The position the application last reported for the current item, if it did."""
        current = self._current
        return None if current is None else self._played.get(current.item_id)

    def on_audio_delta(
        self, response_id: str, item_id: str, content_index: int, nbytes: int, now: float
    ) -> None:
        """Count ``nbytes`` of decoded audio from a ``response.output_audio.delta``."""
        if nbytes <= 0 or item_id in self._closed:
            return
        current = self._current
        if current is None or current.item_id != item_id:
            if current is None or current.response_id != response_id:
                self._played.clear()
                self._response_done = False
            self._current = CurrentAudioResponse(
                response_id=response_id,
                item_id=item_id,
                content_index=content_index,
                start_time_ms=now * 1000,
            )
            self._received = 0
            self._played.setdefault(item_id, None)
        self._received += nbytes

    def on_response_done(self, response_id: str) -> None:
        """Note that a response ended: once its audio has played, nothing is left to cut."""
        if self._current is not None and self._current.response_id == response_id:
            self._response_done = True

    def on_truncated(self, item_id: str) -> None:
        """Note a ``conversation.item.truncated``: that item is no longer tracked."""
        self._close(item_id)

    def on_playback_finished(self) -> None:
        """The application has played all audio received so far.

        Audio that arrives later for the same item counts as not played until reported.
        """
        current = self._current
        if current is not None:
            self._played[current.item_id] = self.received_ms

    def report_played(
        self, *, ms: float | None = None, nbytes: int | None = None, item_id: str | None = None
    ) -> None:
        """Report how much of an item the application has played, from the item's start.

        Give exactly one of ``ms`` and ``nbytes``. ``item_id`` defaults to the current item;
        pass it when a response has several audio items, so that a report on an earlier one is
        not taken for the current one. Reports on items no longer tracked are ignored.
        """
        if ms is not None and nbytes is None:
            position = float(ms)
        elif nbytes is not None and ms is None:
            position = nbytes / self.bytes_per_ms
        else:
            raise ValueError("report_played() takes exactly one of ms= and nbytes=")
        if position < 0:
            raise ValueError(f"a played position cannot be negative, got {position} ms")
        self._app_reports = True
        if item_id is None:
            if self._current is None:
                return
            item_id = self._current.item_id
        if item_id in self._played:
            self._played[item_id] = position

    def playback_position_ms(self, now: float) -> float:
        """How much of the current item has played, in ms, within the audio received."""
        current = self._current
        if current is None:
            return 0.0
        played = self._played.get(current.item_id)
        if played is None:
            played = 0.0 if self._app_reports else now * 1000 - current.start_time_ms
        return min(max(played, 0.0), self.received_ms)

    def truncation_point(self, now: float) -> Truncation | None:
        """Where to truncate the current item if interrupted at ``now``; None if nothing to cut."""
        current = self._current
        if current is None:
            return None
        position = self.playback_position_ms(now)
        if self._response_done and position >= self.received_ms:
            return None
        return Truncation(
            item_id=current.item_id,
            content_index=current.content_index,
            audio_end_ms=int(position),
        )

    def take_truncation(self, now: float) -> Truncation | None:
        """Like :meth:`truncation_point`, then stop tracking the item, so it is cut only once."""
        truncation = self.truncation_point(now)
        if self._current is not None:
            self._close(self._current.item_id)
        return truncation

    def _close(self, item_id: str) -> None:
        if item_id not in self._closed:
            self._closed.append(item_id)
        if self._current is not None and self._current.item_id == item_id:
            self._current = None
