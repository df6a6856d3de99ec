"""Altair chart builders and the book theme."""
