"""Privacy core: personal-data storage, encryption, blind indexes, audit."""
