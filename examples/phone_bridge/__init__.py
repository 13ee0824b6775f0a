"""A phone bridge: Twilio Media Streams calls answered by OpenAI Realtime sessions.

``python -m examples.phone_bridge --help``; see :mod:`examples.phone_bridge.bridge`.
"""

from .bridge import BridgeConfig, CallRecord, PhoneBridge, phone_settings

__all__ = ["BridgeConfig", "CallRecord", "PhoneBridge", "phone_settings"]
