"""The learned image layer: GlyphELIC (glyph-conditioned, ELIC-style) registered as image codec "mlic"."""
