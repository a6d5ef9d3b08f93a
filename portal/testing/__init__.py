"""Test helpers shipped with the portal for plugin authors (the conformance kit)."""
