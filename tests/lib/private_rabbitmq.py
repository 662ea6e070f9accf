"""Private RabbitMQ nodes (Debian 12's rabbitmq-server 3.10) on loopback, for tests.

Nothing here touches a system RabbitMQ: each node runs RabbitMQ's own scripts (not Debian's
wrapper, which switches to the rabbitmq user) with every directory, its Erlang cookie (a
private HOME) and its ports (AMQP, distribution, and an epmd of its own) under the test's
base directory and on 127.0.0.1 only. ``stop()`` ends the node and its epmd.
"""

from __future__ import annotations

import glob
import os
import subprocess
import time
from pathlib import Path

from tests.lib.private_mariadb import free_port

SBIN = sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin"))


class PrivateRabbitmq:
    """One node, ``<name>@localhost``, with the plugins ``plugins`` enabled."""

    def __init__(self, basedir, name, plugins=("rabbitmq_federation",), epmd_port=None):
        if not SBIN:
            raise RuntimeError("rabbitmq-server is not installed (scripts/apt-packages.txt): run scripts/setup.sh")
        self.base = Path(basedir) / name
        self.name = name
        self.node = "%s@localhost" % name
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = epmd_port or free_port()
        self.sbin = SBIN[-1]
        self.ctl_path = os.path.join(self.sbin, "rabbitmqctl")
        for sub in ("home", "mnesia", "log"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text("[%s].\n" % ",".join(plugins))
        (self.base / "rabbitmq.conf").write_text("listeners.tcp.default = 127.0.0.1:%d\n" % self.port)
        (self.base / "rabbitmq-env.conf").write_text("")
        self.env = dict(os.environ, **{
            "HOME": str(self.base / "home"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_BASE": str(self.base),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
        })
        # what rabbitmqctl needs to reach this node from another process (its cookie, its epmd)
        self.cli_env = {"HOME": self.env["HOME"], "ERL_EPMD_PORT": self.env["ERL_EPMD_PORT"]}
        self.proc = None

    def start(self, timeout=120):
        log = open(self.base / "server.out", "w")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen([os.path.join(self.sbin, "rabbitmq-server")], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:     # await_startup fails at once until the node has registered with epmd
            res = self.ctl("await_startup", "--timeout", "30", check=False, timeout=60)
            if res.returncode == 0 or time.monotonic() > deadline or self.proc.poll() is not None:
                break
            time.sleep(1)
        if res.returncode != 0:
            tail = (self.base / "server.out").read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError("RabbitMQ node %s did not start: %s\n%s" % (self.node, res.stderr, tail))
        return self

    def ctl(self, *args, check=True, input=None, timeout=120):  # pylint: disable=redefined-builtin
        return subprocess.run([self.ctl_path, "-n", self.node, "-q"] + list(args), env=self.env, input=input,
                              capture_output=True, text=True, check=check, timeout=timeout)

    def add_user(self, user, password):
        """A user with every permission on / (the password on stdin)."""
        self.ctl("add_user", user, input=password + "\n")
        self.ctl("set_permissions", "-p", "/", user, ".*", ".*", ".*")

    def url(self, user, password, scheme="amqp"):
        """``amqp://`` for RabbitMQ's own clients (federation); oslo.messaging's is ``rabbit``."""
        return "%s://%s:%s@127.0.0.1:%d/%%2F" % (scheme, user, password, self.port)

    def stop(self):
        if self.proc is not None:
            self.ctl("stop", check=False, timeout=60)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(10)
            self.proc = None
        subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"], capture_output=True, check=False,
                       env=dict(os.environ, ERL_EPMD_PORT=str(self.epmd_port)))
        time.sleep(0.2)
