"""Evidence uploads: checking, storing and fingerprinting images and PDFs."""
