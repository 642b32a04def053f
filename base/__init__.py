"""Building blocks that import nothing else of the project: the clock, time periods, text
normalisation, keyed locks, log context and redaction, and the bus protocol."""
