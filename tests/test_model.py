"""The normalised Resource: where a finding about a field points."""

import pytest

from amlguard.model import Resource

RESOURCE = Resource("online_endpoint", "id", "ep", line=9, lines={"auth_mode": 3, "traffic": 4, "traffic.blue": 5})


@pytest.mark.parametrize(("path", "line"), [
    ("auth_mode", 3),  # written
    ("traffic.blue", 5),
    ("traffic.green", 4),  # absent: its nearest written parent
    ("traffic.blue.weight", 5),
    ("public_network_access", 9),  # absent (an Azure default): the resource's first line
    ("identity.type", 9),
    ("", 9),
])
def test_line_of_points_at_the_field_or_its_nearest_written_parent(path: str, line: int) -> None:
    assert RESOURCE.line_of(path) == line
