"""Realtime events: recorded with a per-workspace sequence, published after commit, resumable."""
