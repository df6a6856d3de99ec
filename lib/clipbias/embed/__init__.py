"""Batched embedding engine and the content-addressed embedding store."""
