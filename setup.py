"""The shim the client's layout requires: everything (dependencies, pins and why, package data, the
`purehealth` command) is declared in pyproject.toml."""

from setuptools import setup

setup()
