"""The session: the client's mirror of the server's state, request and response correlation,
the connection's life (reconnect, renewal, restart, recording), and the public
:class:`~trealtime.Session` facade that ``open_session`` yields.
"""
