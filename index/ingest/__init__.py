"""Reading articles: files and folders in, `Article` records (metadata + clean text) out."""
