"""Evaluation: datasets, OCR judges, the measuring loop behind `picd eval`."""
