"""Delivery: a finished job's result (or its failure notice) into the user's chat."""
