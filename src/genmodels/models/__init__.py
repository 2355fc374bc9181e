"""The models and what only they use: their loss terms and per-epoch means."""
