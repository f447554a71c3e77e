"""The learned image layer: GlyphMLIC (glyph-conditioned MLIC-family codec) and its image-codec adapter."""
