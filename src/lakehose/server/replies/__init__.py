"""What the server answers: error and success envelopes, Falcon feed lines."""
