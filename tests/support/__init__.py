"""Helpers shared by the tests: fake servers, loopback servers, samples and checks.

A helper used by more than one test file lives here, never in a test file.
"""
