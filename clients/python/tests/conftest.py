"""Fixtures for the tests against a real service.

The service comes from the environment, as for any user of the package: CODE_SANDBOX_URL and
CODE_SANDBOX_TOKEN. test/integration/python-sdk.test.ts starts one (a token, one execution slot and
no waiting place, so a second concurrent run is refused with a retry hint) and runs this suite
against it. Tests that need no service (test_endpoint.py) run anywhere.
"""

import os

import pytest

from code_sandbox import Sandbox


@pytest.fixture(scope="session")
def service():
    url = os.environ.get("CODE_SANDBOX_URL")
    token = os.environ.get("CODE_SANDBOX_TOKEN")
    if not url:
        pytest.skip("CODE_SANDBOX_URL is not set: no service to test against")
    return {"url": url, "token": token}


@pytest.fixture(scope="session")
def sb(service):
    with Sandbox() as sandbox:  # reads CODE_SANDBOX_URL and CODE_SANDBOX_TOKEN
        yield sandbox
