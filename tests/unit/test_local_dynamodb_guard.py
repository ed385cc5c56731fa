"""The local DynamoDB's moto patches refuse to run on a moto they were not written for."""
from __future__ import annotations

import pytest

from infra.local import dynamodb


def test_the_installed_moto_is_the_one_the_patches_were_written_for():
    dynamodb.require_moto()  # requirements-dev.txt pins the same release


def test_another_moto_release_stops_the_stand_in_naming_both_versions():
    with pytest.raises(dynamodb.MotoChanged) as err:
        dynamodb.require_moto("5.3.0")
    assert "5.3.0" in str(err.value) and dynamodb.MOTO_VERSION in str(err.value)


def test_the_pin_in_requirements_matches_the_guard():
    from pathlib import Path

    pins = (Path(__file__).resolve().parents[2] / "requirements-dev.txt").read_text()
    assert f"moto[server]=={dynamodb.MOTO_VERSION}" in pins, "the guard and the pin must name one release"
