"""Making an index: the full build, updates (add, delete), background embedding, and reuse of
the vectors of the version being replaced."""
