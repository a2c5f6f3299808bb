"""An unknown email is checked against a stored dummy hash of the same cost as a real one."""

from __future__ import annotations

from werkzeug.security import generate_password_hash

from app.services import accounts


def test_the_dummy_hash_costs_what_a_new_password_hash_costs() -> None:
    # the method and its work factors come before the first "$": if the library's defaults
    # change, new passwords and the dummy would take different times and reveal accounts
    method = generate_password_hash("any password at all").split("$", 1)[0]
    assert accounts._DUMMY_HASH.split("$", 1)[0] == method
    assert len(accounts._DUMMY_HASH.split("$")) == 3
