"""Knowledge base processing: import (Markdown, HTML, CSV), chunking, and hybrid retrieval."""
