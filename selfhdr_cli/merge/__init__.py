"""Merging: the bracket, alignment, the colour component, the classical merge, network inference,
and one bracket (or many) from files to files."""
