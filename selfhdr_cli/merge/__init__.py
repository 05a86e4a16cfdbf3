"""Merging: the bracket, alignment, the color component, the classical merge, network inference,
and one bracket (or many) from files to files."""
