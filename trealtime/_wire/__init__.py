"""The wire model and codec: every Realtime API message as a frozen attrs class, the session
configuration and settings, and the JSON <-> typed event codec. No I/O, no Trio.

Imports only :mod:`trealtime._errors` from outside; everything else builds on it.
"""
