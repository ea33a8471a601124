"""Templates as data, snapping onto them, number parsing."""
