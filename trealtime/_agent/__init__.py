"""The agent behaviours, each sans-IO or nearly: audio input (resampling, chunking, pre-roll),
playback tracking and truncation, function tools and their runner, images and video frames,
per-response metrics, DTMF. The session wires them to the server's events.
"""
