"""Jobs: one generation's life, from a quote to a delivered result, and its money."""
