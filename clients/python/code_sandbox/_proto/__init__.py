"""Stubs generated from proto/sandbox/v1/sandbox.proto by ../../generate.sh (do not edit them)."""
