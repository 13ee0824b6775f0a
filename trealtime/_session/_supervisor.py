"""The connection supervisor: the connection's life, apart from what travels on it.

A session asks its :class:`ConnectionSupervisor` for a link and is told when one is lost. The
supervisor opens each connection (:class:`~trealtime._transport._link.Link`) and sets it up
(``session.created``, then the settings confirmed, then on a new connection the conversation
replayed), renews a session about to expire at a turn boundary, replaces a lost connection
under the :class:`ReconnectPolicy` (or a :meth:`restart`), writes the recording's connect and
close markers, and closes within ``close_timeout`` whatever the server does.

Everything it needs from the session goes through :class:`SupervisedSession`, so it can be
read, and driven in tests, without the facade.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import attrs
import trio

from .._errors import (
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    RequestTimeout,
    ServerError,
    SessionClosed,
)
from .._transport._connect import ConnectStream, Credentials, Endpoint
from .._transport._deflate import Deflate
from .._transport._link import CloseReason, Keepalive, Link
from .._transport._redaction import secrets_of_headers
from .._wire._client_events import ClientEvent, ConversationItemCreate, SessionUpdate
from .._wire._item_models import Item, UnknownItem
from .._wire._notgiven import NOT_GIVEN, is_given
from .._wire._server_events import Error, ResponseDone, ServerEvent, SessionCreated
from .._wire._session_events import Reconnected, Reconnecting
from .._wire._session_models import Session as SessionConfig
from .._wire._settings import session_update_for
from ._reconnect import ReconnectPolicy, is_fatal_error_code, replay_items
from ._reconnect_budget import ReconnectBudget
from ._recording import Recorder
from ._renewal import renewal_delay
from ._requests import PendingRequest
from ._restart import RestartRequest

__all__ = ["OBSERVED_EVENTS", "ConnectionSupervisor", "LinkOptions", "SupervisedSession"]

logger = logging.getLogger("trealtime")

OBSERVED_EVENTS = frozenset({Error, ResponseDone, SessionCreated})
"""The server events :meth:`ConnectionSupervisor.observe` learns from (the session passes it
no other, so that an audio delta costs it nothing)."""

_ATTEMPT_ERRORS = (ConnectError, ServerError, SessionClosed, ConnectionLost, RequestTimeout)
"""How a connection attempt fails (besides taking too long)."""


class SupervisedSession(Protocol):
    """What the supervisor needs from the session it keeps connected."""

    async def on_frame(self, link: Link, message: str | bytes) -> None:
        """Every frame a link receives (the session follows it, then calls :meth:`observe`)."""

    def on_sent(self, text: str) -> None:
        """Every frame a link wrote."""

    def session_properties(self) -> SessionConfig:
        """The settings each new connection is configured with."""

    def conversation_items(self) -> Iterable[Item]:
        """The conversation mirror, which a new connection replays."""

    def forget_conversation(self) -> None:
        """Empty the conversation mirror (a restart that does not keep it)."""

    async def start_request(
        self, event: ClientEvent, kind: str, key: str | None, *, link: Link | None = None
    ) -> PendingRequest:
        """Send a request whose reply will be awaited (``link``: ahead of the queue)."""

    async def wait(self, request: PendingRequest, within: float | None = None) -> ServerEvent:
        """Wait for ``request``'s reply; raise its error or :class:`RequestTimeout`."""

    def forget_request(self, request: PendingRequest) -> None:
        """Nobody will wait for ``request``: stop tracking it."""

    def fail_request(self, request: PendingRequest, error: Exception) -> None:
        """Stop matching replies to ``request`` and fail its waiters with ``error``."""

    def server_error(self, detail: Any) -> Exception:
        """The exception for an ``error`` event's detail (redacted)."""

    def mid_turn(self) -> bool:
        """A response, the user's speech or a tool call is under way."""

    def connection_lost(self, reason: CloseReason) -> None:
        """A connection ended and another will be tried: settle what depended on it."""

    def finish(self, reason: CloseReason) -> None:
        """The session is over: no connection will replace the last one."""

    async def deliver(self, event: ServerEvent) -> None:
        """Put an event (``Reconnecting``, ``Reconnected``) in the caller's stream."""


@attrs.frozen(kw_only=True)
class LinkOptions:
    """What every connection of a session is opened with."""

    endpoint: Endpoint
    credentials: Credentials
    extra_headers: Mapping[str, str]
    connect_stream: ConnectStream
    max_message_size: int
    compression: Deflate | None
    keepalive: Keepalive | None
    outbound: trio.MemoryReceiveChannel[str]


@attrs.define(eq=False)
class _LinkState:
    """What the supervisor knows about one connection beyond the link itself."""

    link: Link
    session_created: bool = False
    last_error: Error | None = None
    renewing: bool = False
    renewal_planned: bool = False
    configured_at: float | None = None
    """When the settings were confirmed (``None`` while in setup)."""
    setup_requests: list[PendingRequest] = attrs.Factory(list)

    @property
    def configured(self) -> bool:
        """Whether setup is over: the settings were confirmed."""
        return self.configured_at is not None

    @property
    def fatal(self) -> bool:
        """The server sent an error after which reconnecting cannot help (e.g. no quota)."""
        error = self.last_error
        return error is not None and is_fatal_error_code(
            error.error.code if isinstance(error.error.code, str) else None
        )

    def was_useful(self, policy: ReconnectPolicy, now: float) -> bool:
        """A response completed on the connection, or it stayed up long enough."""
        configured_at = self.configured_at
        return self.link.response_completed or (
            configured_at is not None and now - configured_at >= policy.useful_after
        )


class ConnectionSupervisor:
    """Keeps a session connected: run it with ``await nursery.start(supervisor.run, nursery)``
    (it returns once the first connection is configured), close it with :meth:`close`."""

    def __init__(
        self,
        session: SupervisedSession,
        options: LinkOptions,
        *,
        connect_timeout: float,
        close_timeout: float,
        reconnect: ReconnectPolicy | None,
        recorder: Recorder | None = None,
        started: float = 0.0,
        secrets: set[str],
    ) -> None:
        self._session = session
        self._options = options
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._policy = reconnect
        self._recorder = recorder
        self._started = started
        self._secrets = secrets
        """The session's set of secrets: each connect's tokens join it."""
        self._nursery: trio.Nursery | None = None
        self._state: _LinkState | None = None
        self._restart: RestartRequest | None = None
        self.resend: str | None = None
        """A frame whose write failed on the last link: the next one sends it first."""
        self.closed_by_client = False
        self.reconnects = 0

    # -- what the session asks ------------------------------------------------------------------

    async def run(
        self,
        nursery: trio.Nursery,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Connect (``started`` once configured), then (with a policy) replace lost links;
        the connections' tasks run in ``nursery``."""
        self._nursery = nursery
        link = await self._connect_first()
        task_status.started()
        await self._supervise(link)

    def observe(self, link: Link, event: ServerEvent) -> None:
        """Follow what a server event says about the connection it came on."""
        state = self._state
        if state is None:
            return
        if isinstance(event, Error):
            state.last_error = event
        elif (
            isinstance(event, ResponseDone)
            and event.response.final_status == "completed"
            and state.configured
        ):
            link.response_completed = True  # useful: see ReconnectPolicy.useful_after
        elif isinstance(event, SessionCreated):
            state.session_created = True
            link.created.set()
            self._schedule_renewal(state, event)

    async def restart(self, keep_conversation: bool) -> None:
        """Replace the server session on a new connection (concurrent calls share one)."""
        state = self._state
        assert state is not None
        if state.link.ended.is_set():
            raise ConnectionLost("the connection is already being replaced; wait for Reconnected")
        request = self._restart
        if request is None:
            request = self._restart = RestartRequest(keep_conversation)
            await state.link.aclose(
                self._close_timeout, CloseReason(1000, "restarting the session")
            )
        await request.wait()

    def abandon_restart(self, error: BaseException) -> None:
        """The session ended: a restart under way fails with ``error``."""
        if self._restart is not None:
            self._restart.settle(error)

    async def close(self, *, polite: bool) -> None:
        """Close within ``close_timeout`` whatever the server does; always release the socket.

        A connection that never became a session (``polite=False``) is dropped at once.
        """
        self.closed_by_client = True
        state = self._state
        if state is None:
            return
        if not state.link.ended.is_set():
            reason = CloseReason(1000, "closed by the client")
            if polite:
                await state.link.aclose(self._close_timeout, reason, flush=True)
            else:
                state.link.abort(reason)
        self._record_link(state.link)

    # -- establishing a link --------------------------------------------------------------------

    def _record_link(self, link: Link | None) -> None:
        """Write a connect marker, or (for an ended link) a close marker."""
        if self._recorder is None:
            return
        t = trio.current_time() - self._started
        if link is None:
            self._recorder.connect(t)
        elif not link.close_recorded:
            link.close_recorded = True
            reason = link.close_reason or CloseReason(1006, None)
            self._recorder.close(t, reason.code, reason.reason)
            self._recorder.flush()

    async def _new_link(self) -> _LinkState:
        """A link with fresh credentials (not yet connected), now the current one."""
        options = self._options
        headers = await options.credentials.headers(options.endpoint.azure)
        self._secrets |= secrets_of_headers(headers)
        link = Link(
            endpoint=options.endpoint,
            headers=headers + list(options.extra_headers.items()),
            connect_stream=options.connect_stream,
            max_message_size=options.max_message_size,
            compression=options.compression,
            keepalive=options.keepalive,
            outbound=options.outbound,
            on_frame=self._session.on_frame,
            on_sent=self._session.on_sent,
            on_open=lambda: self._record_link(None),
            resend=self.resend,
        )
        self.resend = None
        self._state = state = _LinkState(link)
        return state

    async def _establish(self, *, replay: bool) -> tuple[Link, int]:
        """Open a connection and configure it: settings, and on a reconnect the conversation."""
        assert self._nursery is not None
        state = await self._new_link()
        link = state.link
        self._nursery.start_soon(self._fail_setup_when_lost, state)
        logger.debug("connecting to %s", self._options.endpoint.url)
        try:
            # connect_timeout bounds the connection and its settings; a replay that is making
            # progress is bounded per item by request_timeout instead, however long it is.
            with trio.fail_after(self._connect_timeout):
                await self._nursery.start(link.run)
                await self._configure(state)
            replayed = await self._replay(state) if replay else 0
        except BaseException:
            self.resend = link.resend
            link.abort(CloseReason(1006, "setup failed"))
            raise
        state.configured_at = trio.current_time()
        link.open_gate()
        logger.debug("session ready: %s", self._options.endpoint.url)
        return link, replayed

    async def _configure(self, state: _LinkState) -> None:
        """Wait for ``session.created``, then have the settings confirmed."""
        link = state.link
        await link.created.wait()
        if not state.session_created:
            if state.last_error is not None:
                raise self._session.server_error(state.last_error.error)
            reason = link.close_reason or CloseReason(1006, None)
            raise ConnectError(
                "the server closed the connection before session.created"
                f" (code {reason.code}, {reason.reason!r})",
                close_code=reason.code,
            )
        properties = self._session.session_properties()
        update = session_update_for(NOT_GIVEN, properties)
        event = SessionUpdate(session=update or type(properties)())
        request = await self._setup_request(state, event, "session.update", None)
        await self._session.wait(request, within=self._connect_timeout)  # fail_after bounds it

    async def _setup_request(
        self, state: _LinkState, event: ClientEvent, kind: str, key: str | None
    ) -> PendingRequest:
        """Send a setup request ahead of the queue; it fails at once if the link ends."""
        request = await self._session.start_request(event, kind, key, link=state.link)
        state.setup_requests.append(request)
        if state.link.ended.is_set():  # it ended while the request went out
            self._fail_setup_requests(state)
        return request

    async def _fail_setup_when_lost(self, state: _LinkState) -> None:
        """A connection that ends during setup fails its setup requests at once, with its code."""
        await state.link.ended.wait()
        self._fail_setup_requests(state)

    def _fail_setup_requests(self, state: _LinkState) -> None:
        if state.configured:
            return
        reason = state.link.close_reason or CloseReason(1006, None)
        error = ConnectError(
            f"the connection closed during setup (code {reason.code}, {reason.reason!r})",
            close_code=reason.code,
        )
        for request in state.setup_requests:
            if not request.done:
                self._session.fail_request(request, error)

    async def _replay(self, state: _LinkState) -> int:
        """Re-create the conversation on a new connection; returns how many items."""
        policy = self._policy
        items = replay_items(
            self._session.conversation_items(), policy.reanchor_note if policy else None
        )
        # Pipelined: every create goes out at once, then the confirmations are collected, so
        # that a long conversation costs one round trip, not one per item.
        requests: list[PendingRequest] = []
        previous: str | None = None
        try:
            for item in items:
                if isinstance(item, UnknownItem):
                    continue
                item_id, event = ConversationItemCreate.identified(
                    item, previous if previous is not None else NOT_GIVEN
                )
                requests.append(await self._setup_request(state, event, "create", item_id))
                previous = item_id
            for request in requests:
                await self._session.wait(request)
        finally:
            for request in requests:
                if request.waiters == 0:
                    self._session.forget_request(request)
        return len(requests)

    # -- renewal before expiry ------------------------------------------------------------------

    def _schedule_renewal(self, state: _LinkState, event: SessionCreated) -> None:
        """Plan one renewal per connection (a repeated ``session.created`` changes nothing)."""
        policy = self._policy
        expires_at = getattr(event.session, "expires_at", NOT_GIVEN)
        if policy is None or policy.renew_before_expiry is None or not is_given(expires_at):
            return
        if self._nursery is None or state.renewal_planned:
            return
        server_now = time.time() + state.link.server_clock_offset  # expires_at is its clock
        delay = renewal_delay(expires_at - server_now, policy.renew_before_expiry)
        if delay is None:
            logger.warning("the session's expires_at is already past: is the clock right?")
            return
        state.renewal_planned = True
        self._nursery.start_soon(self._renew_when_due, state, trio.current_time() + delay)

    async def _renew_when_due(self, state: _LinkState, deadline: float) -> None:
        """Replace a session about to expire, at a turn boundary, so a long call goes on."""
        with trio.move_on_at(deadline):
            await state.link.ended.wait()  # a connection that ends needs no renewal
        while self._session.mid_turn() or not state.configured:  # never in setup nor mid-turn
            if state.link.ended.is_set():
                return
            await trio.sleep(0.1)
        if state.link.ended.is_set() or self.closed_by_client:
            return
        logger.info("renewing the session before it expires")
        state.renewing = True
        await state.link.aclose(self._close_timeout, CloseReason(1000, "renewing the session"))

    # -- the reconnect loop ---------------------------------------------------------------------

    async def _connect_first(self) -> Link:
        """The first connection; with a policy, transient failures are retried like later ones
        (fatal ones, a rejected key or no quota, raise at once)."""
        budget = ReconnectBudget(self._policy) if self._policy is not None else None
        while True:
            try:
                link, _ = await self._establish(replay=False)
                return link
            except (trio.TooSlowError, *_ATTEMPT_ERRORS) as exc:
                error = _attempt_error(exc)
                state = self._state
                if state is not None and state.fatal and state.last_error is not None:
                    raise self._session.server_error(state.last_error.error) from exc
                if budget is None or not budget.policy.should_retry_error(error):
                    raise
                delay = budget.spend()
                if delay is None:
                    raise
            logger.warning(
                "connect attempt %s failed: %s; retrying in %.2f s", budget.spent, error, delay
            )
            await trio.sleep(delay)

    async def _supervise(self, link: Link) -> None:
        """Wait for each link to end, then replace it (with a policy, or for a restart)."""
        budget = ReconnectBudget(self._policy) if self._policy is not None else None
        while True:
            await link.ended.wait()
            self._record_link(link)
            if self.closed_by_client:
                return
            state = self._state
            assert state is not None
            reason = link.close_reason or CloseReason(1006, None)
            self.resend = link.resend
            if self._restart is not None:
                new_link = await self._restarted(self._restart, reason, budget)
                if new_link is not None and budget is not None:
                    budget.connection_ended(useful=True)  # the caller asked: no attempt spent
            elif budget is None or not self._should_reconnect(state, reason):
                self._session.finish(reason)
                return
            else:
                budget.connection_ended(useful=state.was_useful(budget.policy, trio.current_time()))
                self._session.connection_lost(reason)
                new_link = await self._reconnect_loop(reason, budget, renewal=state.renewing)
            if new_link is None:
                return
            link = new_link

    async def _restarted(
        self, restart: RestartRequest, reason: CloseReason, budget: ReconnectBudget | None
    ) -> Link | None:
        """The connection was closed by :meth:`restart`: open a fresh server session."""
        self._session.connection_lost(reason)
        if not restart.keep_conversation:
            self._session.forget_conversation()
        started = trio.current_time()
        try:
            link, replayed = await self._establish(replay=restart.keep_conversation)
        except (trio.TooSlowError, *_ATTEMPT_ERRORS) as exc:
            error = _attempt_error(exc)
            restart.settle(error)
            self._restart = None
            logger.warning("restart failed: %s", error)
            if budget is None or not budget.policy.should_retry_error(error):
                self._session.finish(CloseReason(reason.code, f"restart failed: {error}"))
                return None
            return await self._reconnect_loop(reason, budget, renewal=False)
        restart.settle()
        self._restart = None
        downtime = trio.current_time() - started
        await self._session.deliver(
            Reconnected(attempt=0, downtime=downtime, replayed_items=replayed, renewal=True)
        )
        return link

    def _should_reconnect(self, state: _LinkState, reason: CloseReason) -> bool:
        policy = self._policy
        if policy is None:
            return False
        if state.renewing:
            return True
        return not state.fatal and policy.should_retry_close(reason.code)

    async def _reconnect_loop(
        self, reason: CloseReason, budget: ReconnectBudget, *, renewal: bool
    ) -> Link | None:
        """Open a new connection (with backoff; a renewal at once) until one is configured or
        the policy gives up (the session is then finished)."""
        lost_at = trio.current_time()
        while True:
            attempt = await self._wait_before_attempt(reason, budget, renewal=renewal)
            if attempt is None:
                return None
            try:
                link, replayed = await self._establish(replay=True)
            except trio.TooSlowError:
                error: Exception = ConnectTimeout("the new connection took too long")
            except _ATTEMPT_ERRORS as exc:
                error = exc
            else:
                self.reconnects += 1
                downtime = trio.current_time() - lost_at
                await self._session.deliver(
                    Reconnected(
                        attempt=attempt, downtime=downtime, replayed_items=replayed, renewal=renewal
                    )
                )
                return link
            logger.warning("reconnect attempt %s failed: %s", attempt, error)
            self._session.connection_lost(reason)
            if not budget.policy.should_retry_error(error):
                code = error.close_code if isinstance(error, ConnectError) else None
                self._session.finish(CloseReason(code or reason.code, f"reconnect failed: {error}"))
                return None
            renewal = False

    async def _wait_before_attempt(
        self, reason: CloseReason, budget: ReconnectBudget, *, renewal: bool
    ) -> int | None:
        """Spend an attempt (a renewal costs none), say so, and wait its delay; the attempt's
        number, or None once the budget is spent (the session is then finished)."""
        delay = 0.0
        if not renewal:
            backoff = budget.spend()
            if backoff is None:
                self._session.finish(
                    CloseReason(reason.code, f"gave up reconnecting: {reason.reason}")
                )
                return None
            delay = backoff
        delay = budget.pace(trio.current_time(), delay)
        attempt = budget.spent  # a loss with no useful connection between continues the count
        if not renewal:
            await self._session.deliver(
                Reconnecting(
                    attempt=attempt, delay=delay, code=reason.code, reason=reason.reason or ""
                )
            )
        await trio.sleep(delay)
        return attempt


def _attempt_error(exc: Exception) -> Exception:
    """What a failed connection attempt reports: taking too long is a :class:`ConnectTimeout`."""
    return ConnectTimeout(str(exc)) if isinstance(exc, trio.TooSlowError) else exc
