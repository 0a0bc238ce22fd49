"""Milvus: the client (`client`), engine URIs (`address`) and the catalog of what is
published (`catalog`). The backend that serves from it: `semsearch.search.backends.milvus`."""
