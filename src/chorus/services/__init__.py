"""Use cases. Each service takes its collaborators (database, blobs, engines, settings) explicitly."""
