"""The `semsearch` command line: build, query and serve an article index."""

__version__ = "0.1.0"
