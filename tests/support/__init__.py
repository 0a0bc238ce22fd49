"""What the tests use but do not test: servers in child processes, dataset converters, the
fake embedder."""
