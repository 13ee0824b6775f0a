"""The fake server's protocol core, sans I/O: no sockets, no clock, no trio.

:class:`~._session.FakeSession` takes each client frame and returns the server events to send;
beneath it the session config (``_config``), the conversation (``_conversation``), responses
and their synthesis (``_responses``, ``_audio``, ``_speech``), the input buffer and its VAD
(``_input``, ``_vad``), the API's errors and ids (``_errors``, ``_ids``), shape checks
(``_validate``), strict mode (``_strict``) and the scripted replies (``_script``). The transport
in ``.._server`` drives it.
"""
