"""The real node: images built from the Dockerfile, a single-node cluster (`poe cluster`), PostgreSQL for pods.

The cluster is the one already up on this machine (`uv run poe cluster up`), left running; otherwise the session
starts one and stops it at the end. Skipped, with one line saying what is missing, without root, the node's
binaries or the images of this source tree.
"""

from collections.abc import Iterator

import pytest

from harness.control_plane import ControlPlane
from harness.images import NOT_BUILT, Image, current_images
from harness.node.cluster import Cluster, down, missing_requirements, running, state_dir, up

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def images() -> dict[str, Image]:
    found = current_images()
    if found is None:
        pytest.skip(NOT_BUILT)
    return found


@pytest.fixture(scope="session")
def node(images: dict[str, Image]) -> Iterator[Cluster]:
    missing = missing_requirements()
    if missing:
        pytest.skip("no real node here: this machine lacks " + ", ".join(missing))
    existing = running()
    if existing is None and state_dir().exists():
        down()  # what a killed session left (dead processes, mounts, the bridge): a cluster of its own replaces it
    cluster = existing or up()
    try:
        for image in images.values():
            cluster.import_image(image.archive, image.reference)
        yield cluster
    finally:
        if existing is None:
            down()


@pytest.fixture(scope="session")
def plane(node: Cluster) -> ControlPlane:
    return node.plane
