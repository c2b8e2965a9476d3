"""pytest plugin: run kazoo's own test suite against servers that are already running.

kazoo's harness (kazoo/testing/harness.py) normally launches Java ZooKeeper
servers itself through ``get_global_cluster()``.  This plugin replaces that
function with one returning an :class:`ExternalCluster` made of the servers
named in the environment, so the unmodified suite runs against Roost (or a
reference Apache ZooKeeper started by scripts/kazoo-suite.sh).

Load it with ``-p roost_kazoo_plugin`` (this directory on PYTHONPATH) and run
pytest from the root of kazoo's unpacked sdist (``python -m pytest kazoo/tests``).

Environment
-----------
ROOST_KAZOO_SERVERS      required. Comma-separated ``host:port`` list, e.g.
                         ``127.0.0.1:22181``. Its length is the cluster size the
                         tests see (``self.cluster[1]`` raises IndexError with one
                         server, exactly as in the standalone reference run).
ROOST_KAZOO_STOP_CMD     shell command that stops server ``{index}`` (0-based;
                         ``{id}`` = index + 1, the member's myid in an ensemble, and
                         ``{address}``, ``{host}`` and ``{port}`` are substituted too)
                         and returns once it no longer accepts connections.
ROOST_KAZOO_START_CMD    shell command that starts server ``{index}`` again with its
                         data kept, and returns once it answers.
ROOST_KAZOO_CMD_TIMEOUT  seconds each stop/start command may take (default 180; keep
                         it above server-ctl's start timeout). On timeout the
                         command's whole process group is killed.
ROOST_KAZOO_LOGS         comma-separated server log files, one per server; their
                         tails are printed by kazoo's conftest when a test fails.
ROOST_KAZOO_TSV          write results here, one line per test:
                         ``test id<TAB>outcome<TAB>message`` (the format of
                         tests/kazoo/reference/kazoo-zk-*.tsv); outcome is passed,
                         failed, skipped or error (setup/teardown error).
ROOST_KAZOO_ABORT_IF_DOWN  default 1: after a failing test, probe every server the
                         harness believes running (TCP connect, 3 tries over ~3 s);
                         if one is gone, stop the session (remaining tests are
                         reported "not run") instead of failing them one by one.
                         (The selected test ids are written to <TSV>.collected.)
                         Set to 0 to keep going.
ROOST_KAZOO_IF_DOWN      what to do when a server is found gone: ``abort`` (the
                         default, as above), ``continue`` (= ABORT_IF_DOWN=0), or
                         ``restart``: run START_CMD for it and go on (an ensemble
                         member that crashed should not hide the tests after it).
                         Overrides ROOST_KAZOO_ABORT_IF_DOWN when set.
ROOST_KAZOO_PROBE_EACH_TEST  set to 1 to probe after every test, not only after a
                         failing one (a crashed ensemble member does not make the
                         next tests fail: the others serve them). Costs one TCP
                         connect per server per test.
<TSV>.timeline gets ``UTC time<TAB>start|end<TAB>test id[<TAB>outcome]`` for every
test, to line tests up with the servers' logs (which log in UTC).
Every server found gone is recorded in <TSV>.down, one line per finding:
``test id<TAB>server index<TAB>address<TAB>action`` (the test after which, or
during which, it went down; its log is in ROOST_KAZOO_LOGS).
ROOST_KAZOO_CLIENT_LOG_LEVEL  e.g. 5 (kazoo's BLATHER) or 10: level of the ``kazoo``
                         loggers, so a failing test's captured log shows the session
                         ids, xids and zxids the client saw. Records are formatted
                         at once and keep no references (pytest's ``-o log_level``
                         would keep TreeNode objects alive through log arguments and
                         break test_cache's leak checks).
ROOST_KAZOO_KEEP_CI      set to 1 to keep the CI variable. By default the plugin
                         removes CI from the environment, because kazoo's suite
                         changes behaviour under CI (runs test_build, sleeps 15 s in
                         the read-only test) and the reference runs had no CI set.

Without STOP/START commands, a test that asks the harness to stop a server is
*skipped* at that point ("needs ROOST_KAZOO_STOP_CMD"), the servers are never
touched, and the run stays safe against a server you do not own.

Harness calls mapped (see kazoo/testing/common.py for the originals):
  server.stop() -> STOP_CMD        server.run() -> START_CMD (if stopped)
  cluster.start() -> run() of each stopped server
  cluster.stop()/reset() -> stop() of each server (data is the server's business)
  cluster.terminate()/server.destroy() -> no-op except restarting stopped servers
      (KazooTestCase.tearDownClass calls terminate() after every class; the
      servers are external and must survive it)
  cluster.get_ssl_client_configuration() -> skip "external: no harness-generated
      TLS certificates" (no TLS port; the reference run skipped it the same way)
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

log = logging.getLogger("roost_kazoo")

_CLUSTER = None


def _env_cmd(name):
    value = os.environ.get(name, "").strip()
    return value or None


class ExternalServer:
    """Stands in for kazoo.testing.common.ManagedZooKeeper."""

    def __init__(self, index, address, log_path=None):
        host, _, port = address.rpartition(":")
        self.index = index
        self.host = host or "127.0.0.1"
        self.server_info = None
        self._port = int(port)
        self._log_path = log_path
        self._running = True

    # --- addresses -----------------------------------------------------------
    @property
    def address(self):
        return "%s:%s" % (self.host, self._port)

    @property
    def client_port(self):
        return self._port

    @property
    def secure_client_port(self):
        return None

    @property
    def secure_address(self):
        pytest.skip("external: no harness-generated TLS certificates")

    @property
    def running(self):
        return self._running

    # --- control ---------------------------------------------------------------
    def _run_cmd(self, env_name):
        template = _env_cmd(env_name)
        if template is None:
            pytest.skip(
                "needs %s to stop/start server %d (not set)" % (env_name, self.index)
            )
        cmd = template.format(
            index=self.index, id=self.index + 1, address=self.address,
            host=self.host, port=self._port,
        )
        timeout = float(os.environ.get("ROOST_KAZOO_CMD_TIMEOUT", "180"))
        log.info("server %d: running %s", self.index, cmd)
        proc = subprocess.Popen(
            cmd, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.communicate()
            raise RuntimeError("%s timed out after %ss: %s" % (env_name, timeout, cmd))
        if proc.returncode != 0:
            raise RuntimeError(
                "%s failed (exit %d): %s\n%s" % (env_name, proc.returncode, cmd, out)
            )

    def stop(self):
        if not self._running:
            return
        self._run_cmd("ROOST_KAZOO_STOP_CMD")
        self._running = False

    def run(self):
        if self._running:
            return
        self._run_cmd("ROOST_KAZOO_START_CMD")
        self._running = True

    def reset(self):
        self.stop()

    def destroy(self):
        # External servers are never destroyed by the tests; bring back a server
        # a test left stopped so later tests find it.
        if not self._running and _env_cmd("ROOST_KAZOO_START_CMD"):
            self.run()

    def answers(self, tries=3):
        for attempt in range(tries):
            try:
                with socket.create_connection((self.host, self._port), timeout=2):
                    return True
            except OSError:
                if attempt + 1 < tries:
                    time.sleep(1)
        return False

    def get_logs(self, num_lines=100):
        if not self._log_path or not os.path.exists(self._log_path):
            return []
        with open(self._log_path, "r", errors="replace") as fh:
            return fh.readlines()[-num_lines:]


class ExternalCluster:
    """Stands in for kazoo.testing.common.ZookeeperCluster."""

    def __init__(self, addresses, log_paths=()):
        log_paths = list(log_paths)
        self._servers = [
            ExternalServer(i, a, log_paths[i] if i < len(log_paths) else None)
            for i, a in enumerate(addresses)
        ]

    def __getitem__(self, k):
        return self._servers[k]

    def __iter__(self):
        return iter(self._servers)

    def __len__(self):
        return len(self._servers)

    def start(self):
        for server in reversed(self._servers):
            server.run()

    def stop(self):
        for server in self._servers:
            server.stop()

    def terminate(self):
        for server in self._servers:
            server.destroy()

    def reset(self):
        for server in self._servers:
            server.reset()

    def get_logs(self):
        logs = []
        for server in self._servers:
            logs += server.get_logs()
        return logs

    def perform_ssl_certs_generation(self):
        pass

    def get_ssl_client_configuration(self):
        pytest.skip("external: no harness-generated TLS certificates")


def get_global_cluster():
    global _CLUSTER
    if _CLUSTER is None:
        servers = os.environ.get("ROOST_KAZOO_SERVERS", "").strip()
        if not servers:
            raise RuntimeError("ROOST_KAZOO_SERVERS is not set (e.g. 127.0.0.1:22181)")
        logs = [p for p in os.environ.get("ROOST_KAZOO_LOGS", "").split(",") if p]
        _CLUSTER = ExternalCluster([s.strip() for s in servers.split(",") if s.strip()], logs)
    return _CLUSTER


# ---------------------------------------------------------------------------
# pytest hooks
# ---------------------------------------------------------------------------

def _client_logging():
    level = os.environ.get("ROOST_KAZOO_CLIENT_LOG_LEVEL", "").strip()
    if not level:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        if record.name.startswith("kazoo") and record.args:
            # Format now and drop the arguments: a captured record must not
            # keep the objects it mentions alive.
            try:
                record.msg = record.getMessage()
            except Exception:  # noqa: BLE001 - keep the raw message
                record.msg = str(record.msg)
            record.args = None
        return record

    logging.setLogRecordFactory(factory)
    logging.getLogger("kazoo").setLevel(int(level))


def pytest_configure(config):
    if os.environ.get("ROOST_KAZOO_KEEP_CI") != "1":
        os.environ.pop("CI", None)
    _client_logging()
    if not os.environ.get("ROOST_KAZOO_SERVERS"):
        raise pytest.UsageError("roost_kazoo_plugin: ROOST_KAZOO_SERVERS is not set")
    import kazoo.testing.harness as harness

    harness.get_global_cluster = get_global_cluster
    config._roost_tsv = _TsvWriter(os.environ.get("ROOST_KAZOO_TSV"))
    config.pluginmanager.register(config._roost_tsv, "roost_kazoo_tsv")
    if "kazoo" in sys.modules:
        log.info("kazoo imported from %s", sys.modules["kazoo"].__file__)


def test_id(nodeid):
    """pytest node id -> reference TSV id.

    kazoo/tests/test_x.py::Class::test_y -> kazoo/tests/test_x/Class::test_y
    kazoo/tests/test_x.py::test_y        -> kazoo/tests/test_x::test_y
    """
    parts = nodeid.split("::")
    path = parts[0][:-3] if parts[0].endswith(".py") else parts[0]
    if len(parts) >= 3:
        return "%s/%s::%s" % (path, "::".join(parts[1:-1]), parts[-1])
    return "::".join([path] + parts[1:])


def _clean(text):
    return " ".join(str(text).replace("\t", " ").splitlines()).strip()


def _message(report):
    lr = report.longrepr
    if lr is None:
        return ""
    if report.skipped and isinstance(lr, tuple) and len(lr) == 3:
        msg = str(lr[2])
        return _clean(msg[len("Skipped: "):] if msg.startswith("Skipped: ") else msg)
    crash = getattr(lr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return _clean(crash.message)
    text = str(lr).strip().splitlines()
    return _clean(text[-1] if text else "")


class _TsvWriter:
    """Combines setup/call/teardown reports into one line per test."""

    def __init__(self, path):
        self.path = path
        self.results = {}
        self._order = []
        self._fh = None
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._fh = open(path, "w")
            if os.path.exists(path + ".down"):
                os.remove(path + ".down")
            self._timeline = open(path + ".timeline", "w")
        else:
            self._timeline = None

    def _mark(self, what, tid, extra=""):
        if self._timeline is None:
            return
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (
            int(now * 1000) % 1000)
        self._timeline.write("%s\t%s\t%s%s\n" % (stamp, what, tid, ("\t" + extra) if extra else ""))
        self._timeline.flush()

    def pytest_runtest_logstart(self, nodeid, location):
        self._mark("start", test_id(nodeid))

    def pytest_runtest_logreport(self, report):
        tid = test_id(report.nodeid)
        if tid not in self.results:
            self._order.append(tid)
            self.results[tid] = ("passed", "")
        outcome, msg = self.results[tid]
        if report.when == "call":
            if report.passed:
                new = ("passed", "")
            elif report.skipped:
                new = ("skipped", _message(report))
            else:
                new = ("failed", _message(report))
            if outcome == "passed":
                self.results[tid] = new
        elif report.failed and outcome in ("passed", "skipped"):
            self.results[tid] = ("error", "[%s] %s" % (report.when, _message(report)))
        elif report.skipped and report.when == "setup" and outcome == "passed":
            self.results[tid] = ("skipped", _message(report))

    def pytest_sessionstart(self, session):
        self.session = session

    def pytest_collection_finish(self, session):
        # The selected test ids, so a partial or aborted run can be judged.
        if self.path:
            with open(self.path + ".collected", "w") as fh:
                for item in session.items:
                    fh.write(test_id(item.nodeid) + "\n")

    @staticmethod
    def _if_down():
        policy = os.environ.get("ROOST_KAZOO_IF_DOWN", "").strip()
        if policy:
            if policy not in ("abort", "continue", "restart"):
                raise pytest.UsageError("ROOST_KAZOO_IF_DOWN must be abort, continue or restart")
            return policy
        return "continue" if os.environ.get("ROOST_KAZOO_ABORT_IF_DOWN", "1") == "0" else "abort"

    def _record_down(self, tid, server, action):
        sys.stderr.write(
            "roost_kazoo_plugin: server %d (%s) no longer accepts connections after %s; %s\n"
            % (server.index, server.address, tid, action))
        if self.path:
            with open(self.path + ".down", "a") as fh:
                fh.write("%s\t%d\t%s\t%s\n" % (tid, server.index, server.address, action))

    def _check_servers(self, tid, quick):
        if _CLUSTER is None:
            return
        policy = self._if_down()
        if policy == "continue" and not quick:
            return  # the original behaviour of ABORT_IF_DOWN=0: no probing
        for server in _CLUSTER:
            if not server.running:
                continue
            # One connect when probing after every test; the full 3 tries
            # before calling a server gone.
            if quick and server.answers(tries=1):
                continue
            if server.answers():
                continue
            if policy == "abort":
                msg = "server %d (%s) no longer accepts connections; stopping the run" % (
                    server.index, server.address)
                self._record_down(tid, server, "stopping the run")
                self.session.shouldstop = msg
                return
            if policy == "continue":
                self._record_down(tid, server, "left down")
                server._running = False  # do not report it again
                continue
            try:
                server._running = False
                server.run()
                self._record_down(tid, server, "restarted")
            except Exception as exc:  # noqa: BLE001 - report and stop
                self._record_down(tid, server, "restart failed: %s" % _clean(exc))
                self.session.shouldstop = "server %d could not be restarted" % server.index
                return

    def pytest_runtest_logfinish(self, nodeid, location):
        tid = test_id(nodeid)
        outcome, msg = self.results.get(tid, ("error", "no report"))
        self._mark("end", tid, outcome)
        if getattr(self, "session", None) is not None:
            if outcome in ("failed", "error"):
                self._check_servers(tid, quick=False)
            elif os.environ.get("ROOST_KAZOO_PROBE_EACH_TEST") == "1":
                self._check_servers(tid, quick=True)
        if self._fh is None:
            return
        self._fh.write("%s\t%s\t%s\n" % (tid, outcome, msg))
        self._fh.flush()

    def pytest_sessionfinish(self, session, exitstatus):
        if self._timeline is not None:
            self._timeline.close()
            self._timeline = None
        if self._fh is None:
            return
        self._fh.close()
        self._fh = None
        with open(self.path, "w") as fh:
            for tid in sorted(self.results):
                outcome, msg = self.results[tid]
                fh.write("%s\t%s\t%s\n" % (tid, outcome, msg))
