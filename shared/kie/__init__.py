"""KIE: the HTTP client, its typed errors, and the parsers of every family's results.

Import the submodules directly; this package imports nothing heavy on its own.
"""
