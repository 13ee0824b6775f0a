"""The fake server's transport: the listener and handshake (``_server``), one connection's
tasks (``_connection``), faults and their triggers (``_faults``, ``_triggers``), replays
(``_replay``), HTTP and the REST endpoints (``_http``, ``_rest``, ``_calls``) and
permessage-deflate (``_deflate``). It moves frames and runs timers; what to answer is decided by
the protocol core in ``.._protocol``.
"""
