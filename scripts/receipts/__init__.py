"""Rendered bank receipts with their ground truth, for the OCR tests and scripts."""
