"""Radiometry: camera response curves, the μ-law T, Rec.709 luma, per-pixel frame weights, tone mapping.

Pure formulas on arrays (numpy, and torch where training needs them), one home each.
"""
