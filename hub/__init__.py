"""TraceTrack Hub: a real-time scanning hub for warehouse bag tracking."""
