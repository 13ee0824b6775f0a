"""A session's counters and queue depths: :class:`SessionStatistics`, and how they are read."""

from __future__ import annotations

import attrs

from .._agent._audio_input import AudioInputStatistics
from .._wire._server_events import ServerEvent
from ._core import ConversationCore
from ._inbound_queue import InboundQueue
from ._receiver import FrameCounters
from ._supervisor import ConnectionSupervisor

__all__ = ["SessionStatistics", "statistics_of"]


@attrs.frozen(kw_only=True)
class SessionStatistics:
    """Counters and queue depths of a session, for monitoring."""

    events_received: int
    bytes_received: int
    events_sent: int
    bytes_sent: int
    invalid_events: int
    """Frames that could not be decoded (delivered as ``InvalidServerEvent``)."""
    unknown_events: int
    """Frames of a type this version does not know (delivered as ``UnknownServerEvent``)."""
    inbound_queued: int
    """Events decoded but not yet read by the caller."""
    inbound_queued_bytes: int
    """The wire size of those events (bounded by ``inbound_buffer_bytes``)."""
    outbound_queued: int
    """Frames waiting for the send task."""
    unsent_events: int
    """Frames that were queued when the session ended and so never went out."""
    pending_requests: int
    reconnects: int
    failed_reactions: int
    """Server events some behaviour could not follow (each logged; the session went on)."""
    responses_completed: int
    responses_cancelled: int
    responses_failed: int
    audio_input: AudioInputStatistics


def statistics_of(
    counters: FrameCounters,
    core: ConversationCore,
    inbound: InboundQueue[ServerEvent],
    supervisor: ConnectionSupervisor,
    *,
    outbound_queued: int,
    closed: bool,
) -> SessionStatistics:
    """The statistics now; once ``closed``, what is still queued (and a frame whose write
    failed) counts as unsent."""
    unsent = outbound_queued + (supervisor.resend is not None) if closed else 0
    return SessionStatistics(
        events_received=counters.events_received,
        bytes_received=counters.bytes_received,
        events_sent=counters.events_sent,
        bytes_sent=counters.bytes_sent,
        invalid_events=core.invalid_events,
        unknown_events=core.unknown_events,
        inbound_queued=inbound.queued,
        inbound_queued_bytes=inbound.queued_bytes,
        outbound_queued=outbound_queued,
        unsent_events=unsent,
        pending_requests=len(core.requests),
        reconnects=supervisor.reconnects,
        failed_reactions=counters.failed_reactions,
        responses_completed=core.metrics.responses_completed,
        responses_cancelled=core.metrics.responses_cancelled,
        responses_failed=core.metrics.responses_failed,
        audio_input=core.audio.statistics(),
    )
