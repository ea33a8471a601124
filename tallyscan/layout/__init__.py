"""Page analysis: rasterise, orientation, deskew, grid and cells, text layer."""
