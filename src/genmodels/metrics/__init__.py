"""Evaluation metrics as pure functions on tensors: likelihood bounds, Fréchet distance, sample quality."""
