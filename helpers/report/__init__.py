"""Figures and the poster: style (display names, colours), panels, poster layout. Reads
results files only."""
