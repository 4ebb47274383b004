"""What the four methods stand on: model loading, generation, scoring, data, metrics, CLI frame."""
