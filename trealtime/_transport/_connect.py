"""Where and how to connect: the URL, the credentials, and opening the TCP/TLS stream."""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs
import trio

from .._errors import ConfigurationError, ConnectError

__all__ = [
    "DEFAULT_URL",
    "ConnectStream",
    "Credentials",
    "Endpoint",
    "open_tcp_or_tls",
]

DEFAULT_URL = "wss://api.openai.com/v1/realtime"
_AZURE_HOST_SUFFIXES = (".openai.azure.com", ".cognitiveservices.azure.com", ".ai.azure.com")

TokenProvider = Callable[[], Awaitable[str]]


class ConnectStream(Protocol):
    """Opens the byte stream to ``host:port`` (the test seam; TLS is its business)."""

    async def __call__(self, host: str, port: int, tls: bool) -> trio.abc.Stream: ...


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@attrs.frozen
class Endpoint:
    """The parsed WebSocket endpoint: host, port, TLS, and the request target."""

    host: str
    port: int
    tls: bool
    resource: str
    azure: bool

    @classmethod
    def build(
        cls,
        url: str,
        *,
        model: str | None,
        extra_query: Mapping[str, str] | None = None,
        azure: bool | None = None,
    ) -> Endpoint:
        """Parse ``url`` and add the ``model`` query parameter (unless the URL names a call)."""
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            raise ConfigurationError(f"the URL must start with ws:// or wss://, got {url!r}")
        if not parts.hostname:
            raise ConfigurationError(f"the URL has no host: {url!r}")
        try:
            port = parts.port
        except ValueError as exc:  # "Port out of range 0-65535", "Port could not be cast …"
            raise ConfigurationError(f"the URL has an invalid port: {url!r} ({exc})") from None
        tls = parts.scheme == "wss"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query.update(extra_query or {})
        # A sideband socket (call_id) joins a call whose model is already fixed, and a
        # transcription session (intent) names none: neither takes a model parameter.
        if model is not None and "call_id" not in query and "intent" not in query:
            query = {"model": model, **query}
        path = parts.path or "/"
        resource = f"{path}?{urlencode(query)}" if query else path
        host = parts.hostname
        if azure is None:
            azure = host.endswith(_AZURE_HOST_SUFFIXES)
        return cls(host, port or (443 if tls else 80), tls, resource, azure)

    @property
    def rest_base(self) -> str:
        """The REST counterpart of this endpoint: ``wss://h/v1/realtime`` → ``https://h/v1/realtime``."""
        path = self.resource.partition("?")[0].rstrip("/")
        return f"{'https' if self.tls else 'http'}://{self.authority}{path}"

    @property
    def authority(self) -> str:
        """The ``Host`` header: the host, and the port unless it is the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.tls else 80) else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The full URL (it never carries credentials)."""
        return f"{'wss' if self.tls else 'ws'}://{self.authority}{self.resource}"

    def check_transport_security(self, allow_insecure: bool) -> None:
        """Refuse plaintext ``ws://`` to anything but loopback unless explicitly allowed."""
        if not self.tls and not allow_insecure and not _is_loopback(self.host):
            raise ConfigurationError(
                f"refusing plaintext ws:// to {self.host}: the API key would travel unencrypted;"
                " use wss://, or pass allow_insecure=True"
            )


class Credentials:
    """An API key or a token provider. Never shown in a repr, a log line or an exception."""

    __slots__ = ("_api_key", "_token_provider")

    def __init__(self, api_key: str | None, token_provider: TokenProvider | None) -> None:
        self._api_key = api_key
        self._token_provider = token_provider

    @classmethod
    def resolve(
        cls, api_key: str | None, token_provider: TokenProvider | None, *, azure: bool
    ) -> Credentials:
        """Use the arguments, else the environment; fail clearly when there is nothing."""
        if api_key is not None and not api_key.strip():
            raise ConfigurationError(
                "the API key is empty: pass the key as api_key=..., or leave api_key out to use"
                f" {'AZURE_OPENAI_API_KEY' if azure else 'OPENAI_API_KEY'}"
            )
        if api_key is None and token_provider is None:
            env = "AZURE_OPENAI_API_KEY" if azure else "OPENAI_API_KEY"
            api_key = os.environ.get(env) or os.environ.get("OPENAI_API_KEY")
            if not api_key:
                raise ConfigurationError(
                    f"no API key: pass api_key=... or token_provider=..., or set {env}"
                )
        return cls(api_key, token_provider)

    def __repr__(self) -> str:
        kind = "token provider" if self._token_provider else "API key"
        return f"<Credentials: {kind}, hidden>"

    def secrets(self) -> tuple[str, ...]:
        """The static secrets held (for redaction checks); tokens are fetched per connect."""
        return (self._api_key,) if self._api_key else ()

    async def headers(self, azure: bool) -> list[tuple[str, str]]:
        """The authentication header, fetching a fresh token from the provider if there is one."""
        if self._token_provider is not None:
            token = await self._token_provider()
            return [("Authorization", f"Bearer {token}")]
        assert self._api_key is not None
        if azure:
            return [("api-key", self._api_key)]
        return [("Authorization", f"Bearer {self._api_key}")]


async def open_tcp_or_tls(
    host: str, port: int, tls: bool, ssl_context: ssl.SSLContext | None
) -> trio.abc.Stream:
    """Open TCP, and TLS over it when asked (certificates verified unless the context says so)."""
    if not tls:
        return await trio.open_tcp_stream(host, port)
    context = ssl_context or ssl.create_default_context()
    stream = await trio.open_ssl_over_tcp_stream(host, port, ssl_context=context)
    # Handshake now, so that a bad certificate is a ConnectError of its own, not a failure of
    # the first WebSocket write.
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(stream)
        raise ConnectError(f"TLS handshake with {host} failed: {exc.__cause__ or exc}") from None
    return stream
