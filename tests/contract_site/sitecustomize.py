"""Loaded by Python at start-up in the tests' subprocesses (this folder is on PYTHONPATH, set
by tests/conftest.py): installs the payload contract check (contract_check.py)."""

import os

if os.environ.get("SIAGA_CONTRACT_VIOLATIONS"):
    import contract_check

    contract_check.install()
