"""Files in and out: LDR frame decoding, HDR files, atomic writes, exposure metadata, dataset layout.

The bottom layer: it knows file formats and folder conventions, nothing of merging.
"""
