# Copyright (c) stackhop contributors
# Apache License 2.0 (see LICENSE)
"""The lab's cinder volume driver: cinder's own fake driver (rows, no block device: this
kernel gives no device-mapper, NFS, LIO or RBD) that can also extend a volume, which the
fake driver's volume group cannot (an extend there ends in error_extending). Lab only: it
lets the lab show what an operator's real backend does after a host move, create, attach,
extend, detach, delete through the API."""

from oslo_log import log as logging

from cinder.tests import fake_driver

LOG = logging.getLogger(__name__)


class ExtendableFakeDriver(fake_driver.FakeLoggingVolumeDriver):
    """FakeLoggingVolumeDriver whose extend succeeds; nothing is behind a volume to grow."""

    def extend_volume(self, volume, new_size):
        LOG.info("lab volume %s extended to %s GiB (no block device behind it)", volume["id"], new_size)
