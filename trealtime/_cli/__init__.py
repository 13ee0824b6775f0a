"""``python -m trealtime``'s commands: the demo, talk, and replaying a recording."""
