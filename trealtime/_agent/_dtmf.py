"""DTMF key presses on a SIP call, fanned out to whoever listens (:meth:`Session.dtmf`)."""

from __future__ import annotations

import logging
from types import TracebackType

import trio

from .._log_limit import LimitedWarnings
from .._wire._server_events import InputAudioBufferDtmfEventReceived

__all__ = ["DtmfKeys", "DtmfListeners"]

logger = logging.getLogger("trealtime")
BUFFER = 256
"""Key presses kept for a listener that has not read them yet (a person types a few a second)."""


class DtmfKeys:
    """The keys pressed on the call from now on, in order: ``async for press in keys``.

    Each item is the :class:`~trealtime.events.InputAudioBufferDtmfEventReceived` event
    (``press.event`` is the key: ``0``-``9``, ``*``, ``#``, ``A``-``D``). Iteration ends when the
    session closes; use it as a context manager (or call :meth:`close`) to stop listening
    earlier. The same events also arrive in the session's own event stream.
    """

    def __init__(self, listeners: DtmfListeners) -> None:
        self._listeners = listeners
        self._send, self._receive = trio.open_memory_channel[InputAudioBufferDtmfEventReceived](
            BUFFER
        )

    def __aiter__(self) -> DtmfKeys:
        return self

    async def __anext__(self) -> InputAudioBufferDtmfEventReceived:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    def __enter__(self) -> DtmfKeys:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening: iteration ends after the keys already received."""
        self._listeners.remove(self)
        self._send.close()

    def _offer(self, press: InputAudioBufferDtmfEventReceived) -> None:
        try:
            self._send.send_nowait(press)
        except trio.WouldBlock:
            # The server decides how many keys come: a listener that stopped reading must
            # not turn them into as many log lines.
            self._listeners.warnings.warning(
                "a DTMF listener fell %d keys behind: key %r dropped", BUFFER, press.event
            )
        except trio.ClosedResourceError:
            pass


class DtmfListeners:
    """The session's open :class:`DtmfKeys` streams."""

    def __init__(self, warnings: LimitedWarnings | None = None) -> None:
        self._listeners: list[DtmfKeys] = []
        self.warnings = warnings if warnings is not None else LimitedWarnings(logger)
        """Where dropped keys are reported, rate-limited."""

    def listen(self) -> DtmfKeys:
        """A new stream of the keys pressed from now on."""
        keys = DtmfKeys(self)
        self._listeners.append(keys)
        return keys

    def remove(self, keys: DtmfKeys) -> None:
        """Forget a closed stream."""
        if keys in self._listeners:
            self._listeners.remove(keys)

    def publish(self, press: InputAudioBufferDtmfEventReceived) -> None:
        """Hand a key press to every listener (never blocks)."""
        for keys in list(self._listeners):
            keys._offer(press)

    def close(self) -> None:
        """The session ended: end every stream."""
        for keys in list(self._listeners):
            keys.close()
