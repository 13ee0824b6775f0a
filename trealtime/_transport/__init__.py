"""The transport: WebSocket framing and handshake (sans-IO), the WebSocket over a Trio stream,
permessage-deflate, where and how to connect, and one connection's loops (:class:`Link`).

It carries frames of text, not events: nothing here knows the wire model.
"""
