"""Measuring: SPEC §6 metrics, scoring over labelled datasets, and labelled-bracket synthesis."""
