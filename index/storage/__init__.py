"""The index directory on disk: manifest, versions and atomic publish, the SQLite store, the
FAISS vectors and the BM25 keyword index."""
