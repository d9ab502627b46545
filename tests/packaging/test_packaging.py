"""The packaging of `edgeclass serve` against the real daemon: packaging/systemd/edgeclass.service
and the Greengrass v2 recipe (packaging/greengrass/), standard library only.

    python3 tests/packaging/test_packaging.py [-v] [unittest arguments]

The daemon is $EDGECLASS_BIN, else ${CARGO_TARGET_DIR:-target}/release/edgeclass (what
`cargo test --release` builds). The Greengrass test installs a tarball laid out as
scripts/release.sh lays it out: $EDGECLASS_TARBALL (e.g. dist/edgeclass-VERSION-x86_64-linux-gnu
.tar.gz), else one built here from the binary under test.

systemd: the unit's ExecStart command line runs as systemd would run it (the paths of the
binary and the services file substituted, the socket in a scratch directory through
EDGECLASS_SOCKET since /run/edgeclass is systemd's to create) with NOTIFY_SOCKET on a datagram
socket of the test's: READY=1, GET /ping over the socket, ExecReload's command reloading the
models, SIGTERM -> STOPPING=1 and exit status 0. `systemd-analyze verify` checks the unit where
it is installed.

Greengrass: the recipe make-recipe.sh writes is parsed and its three manifests checked, its
lifecycle interpolated as the nucleus does (KernelConfigResolver: the same placeholder pattern,
JSON pointers, containers serialised as JSON) for the x86_64 manifest in a scratch Greengrass
root, then Install and Run run with sh as the nucleus runs them; a classification through the
socket must equal `edgeclass classify` of the same image, and SIGTERM (the nucleus's stop) must
end Run with exit status 0.
"""

import errno
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
UNIT = os.path.join(ROOT, 'packaging', 'systemd', 'edgeclass.service')
EXAMPLE = os.path.join(ROOT, 'packaging', 'services.example.json')
MAKE_RECIPE = os.path.join(ROOT, 'packaging', 'greengrass', 'make-recipe.sh')
TINY = os.path.join(ROOT, 'tests', 'fixtures', 'tiny-trained')
IMAGE = os.path.join(TINY, 'images', 'digit07_label3_28x28.png')
IMAGE_TYPE = 'image/png'
COMPONENT = 'com.edgeclass.Serve'

# Where the release tarball's files land (README "Install on a device": the tarball's bin/
# copied into /usr/local) and the SDK's default services file (services.py).
INSTALLED_BINARY = '/usr/local/bin/edgeclass'
# How long the daemon may take to serve the tiny model, or to stop (generous: shared machines).
WAIT = 60


def cargo_version():
    with open(os.path.join(ROOT, 'Cargo.toml')) as f:
        for line in f:
            m = re.match(r'^version = "(.*)"$', line.strip())
            if m:
                return m.group(1)
    raise AssertionError('no version in Cargo.toml')


def edgeclass_binary():
    path = os.environ.get('EDGECLASS_BIN')
    if not path:
        target = os.environ.get('CARGO_TARGET_DIR') or os.path.join(ROOT, 'target')
        path = os.path.join(target, 'release', 'edgeclass')
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        raise AssertionError('%s is missing: run `cargo build --release --bin edgeclass` or set '
                             'EDGECLASS_BIN' % path)
    return path


def run_ok(argv, **kw):
    """stdout of a command that must succeed (its stderr in the failure message)."""
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=WAIT, **kw)
    if p.returncode != 0:
        raise AssertionError('%s: exit %d\n%s%s' % (argv, p.returncode, p.stdout.decode(),
                                                    p.stderr.decode()))
    return p.stdout.decode()


def classify_reference(binary):
    """What `edgeclass classify` prints for IMAGE: the connector's body, the reference."""
    return run_ok([binary, 'classify', '--model', TINY, IMAGE]).strip()


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=WAIT):
        http.client.HTTPConnection.__init__(self, 'localhost', timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def request(sock_path, method, path, body=None, headers=None):
    c = UnixHTTPConnection(sock_path)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_for_ping(sock_path, proc, deadline):
    """Poll GET /ping until it answers 200; fail if the daemon exits first."""
    last = None
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError('the daemon exited with %d before serving (last /ping: %r)'
                                 % (proc.returncode, last))
        if os.path.exists(sock_path):
            try:
                status, body = request(sock_path, 'GET', '/ping')
                if status == 200:
                    return body
                last = (status, body)
            except (OSError, http.client.HTTPException) as e:
                last = e
        time.sleep(0.05)
    raise AssertionError('no 200 from GET /ping within %d s (last: %r)' % (WAIT, last))


def metric(text, name, labels):
    """The value of one sample of Prometheus text, or None."""
    want = '%s{%s}' % (name, ','.join('%s="%s"' % kv for kv in labels))
    for line in text.splitlines():
        if line.startswith(want + ' '):
            return float(line.split()[-1])
    return None


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError('the daemon did not exit within %d s of %s' % (WAIT, sig))


def children(pid):
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                # pid (comm) state ppid ...: comm may hold spaces and parentheses.
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


def scratch(tag):
    d = tempfile.mkdtemp(prefix='edgeclass-packaging-%s-' % tag)
    return d


# --- systemd -----------------------------------------------------------------------------------

def parse_unit(path):
    """A unit file as {section: [(key, value), ...]}: comments dropped, continuations joined,
    repeated keys kept in order (as systemd reads it)."""
    sections = {}
    current = None
    pending = ''
    with open(path) as f:
        for raw in f:
            line = raw.rstrip('\n')
            if pending:
                line = pending + ' ' + line.strip()
                pending = ''
            stripped = line.strip()
            if not stripped or stripped[0] in '#;':
                continue
            if stripped.endswith('\\'):
                pending = stripped[:-1].rstrip()
                continue
            if stripped.startswith('[') and stripped.endswith(']'):
                current = stripped[1:-1]
                sections.setdefault(current, [])
                continue
            key, sep, value = stripped.partition('=')
            if not sep or current is None:
                raise AssertionError('%s: not a unit file line: %r' % (path, raw))
            sections[current].append((key.strip(), value.strip()))
    return sections


def unit_value(sections, section, key):
    """The last assignment of `key` (systemd: a later one wins), or None."""
    values = [v for k, v in sections.get(section, []) if k == key]
    return values[-1] if values else None


def timespan_seconds(text):
    """systemd time span ("60", "90s", "1min 30s", "2m", "1h") in seconds."""
    units = {'': 1, 's': 1, 'sec': 1, 'second': 1, 'seconds': 1, 'm': 60, 'min': 60,
             'minute': 60, 'minutes': 60, 'h': 3600, 'hr': 3600, 'hour': 3600, 'hours': 3600,
             'ms': 0.001, 'msec': 0.001}
    total = 0.0
    parts = re.findall(r'(\d+(?:\.\d+)?)\s*([a-z]*)', text)
    if not parts or re.sub(r'[\d.\sa-z]', '', text):
        raise AssertionError('not a time span: %r' % text)
    for number, unit in parts:
        if unit not in units:
            raise AssertionError('unknown time unit in %r' % text)
        total += float(number) * units[unit]
    return total


def sdk_default_services_path():
    """DEFAULT_SERVICES_PATH of the Python SDK (the file a Lambda reads without configuration)."""
    with open(os.path.join(ROOT, 'python', 'greengrass_machine_learning_sdk', 'services.py')) as f:
        m = re.search(r"^DEFAULT_SERVICES_PATH = '([^']+)'$", f.read(), re.M)
    assert m, 'DEFAULT_SERVICES_PATH not found in services.py'
    return m.group(1)


def connectors(document):
    return document['Connectors'] if isinstance(document, dict) else document


class NotifySocket(object):
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def wait_for(self, assignment, timeout):
        """Wait for a datagram holding the line `assignment` (e.g. READY=1)."""
        deadline = time.time() + timeout
        while True:
            for m in self.messages:
                if assignment in m.split('\n'):
                    return m
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError('no %s on NOTIFY_SOCKET within %d s (got %r)'
                                     % (assignment, timeout, self.messages))
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


class SystemdUnit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.unit = parse_unit(UNIT)
        cls.service = dict(cls.unit['Service'])
        with open(EXAMPLE) as f:
            cls.example = json.load(f)

    def test_settings(self):
        s = self.unit
        self.assertEqual(unit_value(s, 'Service', 'Type'), 'notify')
        self.assertEqual(unit_value(s, 'Service', 'ExecReload'), '/bin/kill -HUP $MAINPID')
        self.assertEqual(unit_value(s, 'Service', 'Restart'), 'on-failure')
        self.assertEqual(unit_value(s, 'Service', 'User'), 'edgeclass')
        self.assertEqual(unit_value(s, 'Service', 'Group'), 'edgeclass')
        self.assertEqual(unit_value(s, 'Service', 'ProtectSystem'), 'strict')
        self.assertEqual(unit_value(s, 'Install', 'WantedBy'), 'multi-user.target')
        argv = shlex.split(unit_value(s, 'Service', 'ExecStart'))
        # The tarball's binary where README's install puts it; the SDK's default services file,
        # so that in-process Lambdas and the daemon read the same one.
        self.assertEqual(argv, [INSTALLED_BINARY, 'serve', '--config', sdk_default_services_path()])

    def test_socket_directory(self):
        """RuntimeDirectory is the directory of the daemon's default socket, and its mode lets
        the socket's group (and nobody else) in."""
        binary = edgeclass_binary()
        help_text = run_ok([binary, 'serve', '--help'])
        m = re.search(r'(/run/[^\s\]]+\.sock)', help_text)
        self.assertTrue(m, '`edgeclass serve --help` names no default socket under /run')
        default_socket = m.group(1)
        runtime = unit_value(self.unit, 'Service', 'RuntimeDirectory')
        self.assertEqual(os.path.dirname(default_socket), '/run/' + runtime)
        mode = int(unit_value(self.unit, 'Service', 'RuntimeDirectoryMode'), 8)
        self.assertEqual(mode & 0o070, 0o050, 'group needs r-x on the socket directory')
        self.assertEqual(mode & 0o007, 0, 'others must not reach the socket')

    def test_spool_directories_writable(self):
        """Every EdgeclassSpoolDirectory of the example services file is inside a directory
        that ProtectSystem=strict leaves writable (StateDirectory, ReadWritePaths)."""
        writable = ['/var/lib/' + d for d in
                    (unit_value(self.unit, 'Service', 'StateDirectory') or '').split()]
        for k, v in self.unit['Service']:
            if k == 'ReadWritePaths':
                writable += [p.lstrip('-') for p in v.split()]
        spools = [c['Parameters']['EdgeclassSpoolDirectory'] for c in connectors(self.example)
                  if 'EdgeclassSpoolDirectory' in c.get('Parameters', {})]
        self.assertTrue(spools, 'the example has no ML Feedback connector')
        for spool in spools:
            self.assertTrue(any(spool == w or spool.startswith(w.rstrip('/') + '/')
                                for w in writable),
                            '%s is read-only under ProtectSystem=strict (writable: %s)'
                            % (spool, writable))

    def test_stop_timeout_covers_service_timeouts(self):
        """SIGTERM drains each request within its own timeout: TimeoutStopSec must be longer
        than the longest one of the example, or systemd kills requests that would complete."""
        stop_s = timespan_seconds(unit_value(self.unit, 'Service', 'TimeoutStopSec'))
        longest = max(int(c['Parameters']['LocalInferenceServiceTimeoutSeconds'])
                      for c in connectors(self.example)
                      if 'LocalInferenceServiceTimeoutSeconds' in c.get('Parameters', {}))
        self.assertGreaterEqual(stop_s, longest + 5)

    def test_systemd_analyze_verify(self):
        tool = shutil.which('systemd-analyze')
        if not tool:
            self.skipTest('systemd-analyze is not installed')
        d = scratch('verify')
        try:
            # verify checks that ExecStart's program exists: point it at the build's binary.
            with open(UNIT) as f:
                text = f.read().replace(INSTALLED_BINARY, edgeclass_binary())
            path = os.path.join(d, 'edgeclass.service')
            with open(path, 'w') as f:
                f.write(text)
            p = subprocess.run([tool, 'verify', '--man=no', path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=WAIT)
            out = p.stdout.decode()
            # It exits 0 on unknown keys and bad values, printing them: any output is a failure.
            self.assertEqual((p.returncode, out.strip()), (0, ''), out)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def exec_start(self, d, wrapper=()):
        """Run the unit's ExecStart command line as systemd would (through `wrapper`, e.g.
        strace): the example services file with this checkout's model, /run/RuntimeDirectory
        and /var/lib/StateDirectory mapped to d/runtime and d/state. Waits for READY=1, checks
        /ping, the socket's mode, a classification, ExecReload and SIGTERM (STOPPING=1, exit
        status 0)."""
        binary = edgeclass_binary()
        runtime = os.path.join(d, 'runtime')
        state = os.path.join(d, 'state')
        os.makedirs(runtime)
        os.makedirs(state)
        state_prefix = '/var/lib/%s/' % unit_value(self.unit, 'Service', 'StateDirectory')
        with open(EXAMPLE) as f:
            document = json.load(f)
        for c in connectors(document):
            p = c['Parameters']
            if 'MLModelDestinationPath' in p:
                p['MLModelDestinationPath'] = TINY
            if 'EdgeclassSpoolDirectory' in p:
                self.assertTrue(p['EdgeclassSpoolDirectory'].startswith(state_prefix))
                p['EdgeclassSpoolDirectory'] = os.path.join(
                    state, p['EdgeclassSpoolDirectory'][len(state_prefix):])
        config = os.path.join(d, 'services.json')
        with open(config, 'w') as f:
            json.dump(document, f)
        service = [c['Parameters']['LocalInferenceServiceName'] for c in connectors(document)
                   if 'LocalInferenceServiceName' in c.get('Parameters', {})][0]

        argv = [{INSTALLED_BINARY: binary, sdk_default_services_path(): config}.get(a, a)
                for a in shlex.split(unit_value(self.unit, 'Service', 'ExecStart'))]
        # /run/edgeclass is systemd's to create: the default socket's directory is mapped.
        sock_path = os.path.join(runtime, 'edgeclass.sock')
        notify = NotifySocket(os.path.join(d, 'notify'))
        env = dict(os.environ, NOTIFY_SOCKET=notify.path, EDGECLASS_SOCKET=sock_path)
        for k, v in self.unit['Service']:
            if k == 'Environment':
                for assignment in shlex.split(v):
                    name, _, value = assignment.partition('=')
                    env[name] = value
        log = open(os.path.join(d, 'daemon.log'), 'w+')
        proc = subprocess.Popen(list(wrapper) + argv, env=env, stdout=log,
                                stderr=subprocess.STDOUT)

        def log_text():
            log.seek(0)
            return log.read()

        try:
            start_s = min(timespan_seconds(unit_value(self.unit, 'Service', 'TimeoutStartSec')
                                           or '90'), WAIT)
            notify.wait_for('READY=1', start_s)
            # The main process: the daemon, not the wrapper.
            main_pid = proc.pid
            if wrapper:
                main_pid, = children(proc.pid)
            # READY=1 comes once every service was tried: this one loaded, so /ping is 200 now.
            status, body = request(sock_path, 'GET', '/ping')
            self.assertEqual(status, 200, body)
            self.assertEqual(stat.S_IMODE(os.stat(sock_path).st_mode), 0o660)
            with open(IMAGE, 'rb') as f:
                status, body = request(sock_path, 'POST', '/services/%s/invocations' % service,
                                       f.read(), {'Content-Type': IMAGE_TYPE})
            self.assertEqual(status, 200, body)
            self.assertEqual(body.decode(), classify_reference(binary))

            def reloads():
                _, text = request(sock_path, 'GET', '/metrics')
                return metric(text.decode(), 'edgeclass_reloads_total',
                              [('service', service), ('result', 'ok')])

            before = reloads()
            self.assertIsNotNone(before, 'no edgeclass_reloads_total{service="%s",result="ok"}'
                                 % service)
            reload_argv = [a.replace('${MAINPID}', str(main_pid))
                           .replace('$MAINPID', str(main_pid))
                           for a in shlex.split(unit_value(self.unit, 'Service', 'ExecReload'))]
            run_ok(reload_argv)
            deadline = time.time() + WAIT
            while reloads() < before + 1:
                self.assertIsNone(proc.poll(), 'the daemon exited on ExecReload')
                if time.time() > deadline:
                    self.fail('ExecReload did not reload the model within %d s:\n%s'
                              % (WAIT, log_text()))
                time.sleep(0.05)
            status, _ = request(sock_path, 'GET', '/ping')
            self.assertEqual(status, 200)

            # systemctl stop: SIGTERM to the main process (KillMode=mixed), within TimeoutStopSec.
            self.assertEqual(unit_value(self.unit, 'Service', 'KillMode'), 'mixed')
            self.assertEqual(unit_value(self.unit, 'Service', 'KillSignal') or 'SIGTERM',
                             'SIGTERM')
            os.kill(main_pid, signal.SIGTERM)
            notify.wait_for('STOPPING=1', WAIT)
            stop_s = timespan_seconds(unit_value(self.unit, 'Service', 'TimeoutStopSec'))
            try:
                rc = proc.wait(min(stop_s, WAIT))
            except subprocess.TimeoutExpired:
                self.fail('no exit within TimeoutStopSec of SIGTERM:\n' + log_text())
            self.assertEqual(rc, 0, log_text())
            self.assertFalse(os.path.exists(sock_path), 'the socket file outlived the daemon')
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            notify.close()
            log.close()
        return runtime, state

    def test_exec_start_notify_reload_stop(self):
        d = scratch('systemd')
        try:
            self.exec_start(d)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_sandbox_allows_what_the_daemon_does(self):
        """The same run under strace: every system call is in SystemCallFilter, every socket
        family in RestrictAddressFamilies, and every path written (created, removed, bound) is
        one ProtectSystem=strict leaves writable (the runtime and state directories). A real
        systemd would refuse the others (EPERM) where this machine's PID 1 is not systemd."""
        strace = shutil.which('strace')
        analyze = shutil.which('systemd-analyze')
        if not strace or not analyze:
            self.skipTest('needs strace and systemd-analyze')
        d = scratch('sandbox')
        try:
            trace = os.path.join(d, 'trace')
            runtime, state = self.exec_start(
                d, [strace, '-f', '-qq', '-s', '4096', '-o', trace])
            with open(trace) as f:
                lines = f.read().splitlines()
            used = set()
            for line in lines:
                m = re.match(r'^\d+ +(?:<\.\.\. )?([a-z_0-9]+)[( ]', line)
                if m:
                    used.add(m.group(1))
            self.assertIn('accept4', used, 'the trace holds no system calls')
            allowed = syscall_filter_names(analyze, unit_value(self.unit, 'Service',
                                                                'SystemCallFilter').split())
            self.assertEqual(sorted(used - allowed), [], 'system calls outside SystemCallFilter')

            families = set(re.findall(r'\bsocket\((AF_[A-Z0-9]+)', '\n'.join(lines)))
            self.assertEqual(families - set(unit_value(self.unit, 'Service',
                                                       'RestrictAddressFamilies').split()),
                             set())

            written = []
            for line in lines:
                if re.search(r'= -1 ', line):
                    continue  # failed: nothing written
                m = re.search(r'\b(?:open|openat|creat)\((?:[^,]+, )?"([^"]+)", ([A-Z_|]+)', line)
                if m and re.search(r'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC', m.group(2)):
                    written.append(m.group(1))
                m = re.search(r'\b(?:mkdir|mkdirat|unlink|unlinkat|rmdir|rename|renameat2?|'
                              r'chmod|fchmodat|symlink|link|truncate)\((?:[^,"]+, )?"([^"]+)"',
                              line)
                if m:
                    written.append(m.group(1))
                m = re.search(r'\bbind\(\d+, \{sa_family=AF_UNIX, sun_path="([^"]+)"', line)
                if m:
                    written.append(m.group(1))
            self.assertTrue(written, 'the trace shows no file written (not even the socket)')
            # PrivateTmp gives the service a /tmp of its own, writable; /dev/null and /proc/self
            # stay writable under ProtectSystem=strict.
            writable = [runtime, state, '/dev/null', '/proc/self/', '/proc/thread-self/']
            outside = [p for p in written
                       if not any(p == w or p.startswith(w.rstrip('/') + '/') for w in writable)]
            self.assertEqual(outside, [], 'paths written that ProtectSystem=strict forbids')
        finally:
            shutil.rmtree(d, ignore_errors=True)


def syscall_filter_names(analyze, entries):
    """The system call names of a SystemCallFilter= allow list, groups (@name) expanded with
    `systemd-analyze syscall-filter`, recursively."""
    names = set()
    seen = set()
    todo = list(entries)
    while todo:
        entry = todo.pop()
        if entry.startswith('~'):
            raise AssertionError('deny lists are not handled: %s' % entry)
        if not entry.startswith('@'):
            names.add(entry)
            continue
        if entry in seen:
            continue
        seen.add(entry)
        out = run_ok([analyze, 'syscall-filter', entry])
        for line in out.splitlines()[1:]:
            token = line.strip()
            if token and not token.startswith('#'):
                todo.append(token)
    return names


# --- Greengrass v2 -----------------------------------------------------------------------------

# KernelConfigResolver's placeholder patterns (aws-greengrass-nucleus): {namespace:key} and
# {component:namespace:key}; keys never contain ':' or '}'.
SAME_COMPONENT = re.compile(r'\{([.\w]+):([^:}]+)\}')
# The Platform of each manifest and the `uname -m` of its tarball (scripts/release.sh arch_of).
PLATFORMS = [
    ({'os': 'linux', 'architecture': 'amd64'}, 'x86_64'),
    ({'os': 'linux', 'architecture': 'arm', 'architecture.detail': 'arm71'}, 'armv7l'),
    ({'os': 'linux', 'architecture': 'aarch64'}, 'aarch64'),
]


def json_pointer(document, pointer):
    """RFC 6901, as Jackson's JsonNode.at: a missing node is None (as a sentinel tuple)."""
    node = document
    if pointer == '':
        return node
    for token in pointer.split('/')[1:]:
        token = token.replace('~1', '/').replace('~0', '~')
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return ()
    return node


def nucleus_text(value):
    """What the nucleus puts in place of a configuration value: a value node's text (asText),
    a container's compact JSON (JsonNode.toString)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(',', ':'), ensure_ascii=False)
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


def interpolate(value, configuration, paths):
    """The nucleus's interpolation of a lifecycle: every string of the (nested) map; unknown
    placeholders stay as they are."""
    if isinstance(value, dict):
        return {k: interpolate(v, configuration, paths) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    out = value
    for m in SAME_COMPONENT.finditer(value):
        namespace, key = m.group(1), m.group(2)
        if namespace == 'configuration':
            node = json_pointer(configuration, key)
            if node != ():
                out = out.replace(m.group(0), nucleus_text(node))
        elif (namespace, key) in paths:
            out = out.replace(m.group(0), paths[(namespace, key)])
    return out


def merge_configuration(default, update):
    """A deployment's MERGE: objects merge key by key, anything else (lists too) replaces."""
    if isinstance(default, dict) and isinstance(update, dict):
        merged = dict(default)
        for k, v in update.items():
            merged[k] = merge_configuration(default.get(k), v)
        return merged
    return update


def lifecycle_step(lifecycle, step):
    """(script, timeout, setenv) of a lifecycle step, either form ("Run": "..." or an object)."""
    entry = lifecycle.get(step)
    if entry is None:
        return None
    if isinstance(entry, str):
        return entry, None, {}
    return entry['Script'], entry.get('Timeout'), entry.get('Setenv', {})


def build_tarball(binary, version, dest_dir):
    """A release tarball of this checkout (scripts/release.sh's layout), the CLI being the
    binary under test. The C library goes in when built; libedgeclass.a is left out (the
    lifecycle does not use it, and it would only slow the test)."""
    name = 'edgeclass-%s-x86_64-linux-gnu' % version
    tree = os.path.join(dest_dir, 'tree', name)
    for sub in ('bin', 'include', 'lib/pkgconfig'):
        os.makedirs(os.path.join(tree, sub))
    shutil.copy2(binary, os.path.join(tree, 'bin', 'edgeclass'))
    shutil.copy2(os.path.join(ROOT, 'include', 'edgeclass.h'), os.path.join(tree, 'include'))
    lib = os.path.join(os.path.dirname(binary), 'libedgeclass.so')
    if os.path.exists(lib):
        shutil.copy2(lib, os.path.join(tree, 'lib', 'libedgeclass.so.1'))
        os.symlink('libedgeclass.so.1', os.path.join(tree, 'lib', 'libedgeclass.so'))
    for f in ('README.md', 'CHANGELOG.md', 'LICENSE-MIT', 'LICENSE-APACHE',
              'THIRD-PARTY-NOTICES.md'):
        shutil.copy2(os.path.join(ROOT, f), tree)
    path = os.path.join(dest_dir, name + '.tar.gz')
    with tarfile.open(path, 'w:gz', compresslevel=1) as t:
        t.add(tree, arcname=name)
    shutil.rmtree(os.path.join(dest_dir, 'tree'))
    return path


class GreengrassRecipe(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.version = cargo_version()
        cls.dir = scratch('greengrass')
        cls.artifacts_uri = 's3://test-bucket/edgeclass/' + cls.version
        out = run_ok([MAKE_RECIPE, '--artifacts', cls.artifacts_uri, cls.dir])
        path = os.path.join(cls.dir, 'recipes', '%s-%s.json' % (COMPONENT, cls.version))
        assert out.splitlines()[0] == path, out
        with open(path) as f:
            cls.recipe = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_recipe(self):
        r = self.recipe
        self.assertEqual(r['RecipeFormatVersion'], '2020-01-25')
        self.assertEqual(r['ComponentName'], COMPONENT)
        self.assertEqual(r['ComponentVersion'], self.version)
        text = json.dumps(r)
        self.assertNotIn('@VERSION@', text)
        self.assertNotIn('@ARTIFACTS@', text)
        # Every placeholder is one the nucleus knows.
        for m in SAME_COMPONENT.finditer(json.dumps(r['Lifecycle'])):
            self.assertIn(m.group(1), ('configuration', 'artifacts', 'work', 'kernel', 'iot'),
                          m.group(0))
        defaults = r['ComponentConfiguration']['DefaultConfiguration']
        self.assertIn('Connectors', defaults['Services'])
        self.assertIn('Socket', defaults)
        # Numbers may come back as floats from the nucleus: connector parameters are strings.
        for c in connectors(defaults['Services']):
            for k, v in c['Parameters'].items():
                self.assertIsInstance(v, str, k)

    def test_manifests(self):
        manifests = self.recipe['Manifests']
        self.assertEqual([m['Platform'] for m in manifests], [p for p, _ in PLATFORMS])
        for m, (_, arch) in zip(manifests, PLATFORMS):
            name = 'edgeclass-%s-%s-linux-gnu.tar.gz' % (self.version, arch)
            self.assertEqual(m['Artifacts'], [{'URI': '%s/%s' % (self.artifacts_uri, name),
                                                'Unarchive': 'NONE'}])
            # No lifecycle of its own: the global Lifecycle applies to every platform.
            self.assertNotIn('Lifecycle', m)
            self.assertNotIn('Selections', m)
        # The tarball names are scripts/release.sh's.
        with open(os.path.join(ROOT, 'scripts', 'release.sh')) as f:
            self.assertIn('name=edgeclass-$VERSION-$arch-linux-gnu', f.read())

    def test_make_recipe_refuses_bad_uri(self):
        p = subprocess.run([MAKE_RECIPE, '--artifacts', 's3://b/x"y', self.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'--artifacts', p.stderr)

    def install_and_run(self, deployment_configuration, tag):
        """Lay out a Greengrass root for the x86_64 manifest, run Install, start Run.
        Returns (proc, paths, configuration, log path)."""
        binary = edgeclass_binary()
        root = os.path.join(self.dir, tag)
        manifest = self.recipe['Manifests'][0]
        self.assertEqual(manifest['Platform']['architecture'], 'amd64')
        artifacts = os.path.join(root, 'packages', 'artifacts', COMPONENT, self.version)
        unarchived = os.path.join(root, 'packages', 'artifacts-unarchived', COMPONENT,
                                  self.version)
        work = os.path.join(root, 'work', COMPONENT)
        for d in (artifacts, unarchived, work):
            os.makedirs(d)
        os.chmod(work, 0o700)  # the nucleus's service work path permission
        name = manifest['Artifacts'][0]['URI'].rsplit('/', 1)[1]
        tarball = os.environ.get('EDGECLASS_TARBALL')
        if tarball:
            self.assertEqual(os.path.basename(tarball), name)
            shutil.copy2(tarball, os.path.join(artifacts, name))
        else:
            built = build_tarball(binary, self.version, artifacts)
            self.assertEqual(os.path.basename(built), name)
        # Artifacts are read-only to the component.
        os.chmod(os.path.join(artifacts, name), 0o444)
        os.chmod(artifacts, 0o555)

        configuration = merge_configuration(
            self.recipe['ComponentConfiguration']['DefaultConfiguration'],
            deployment_configuration)
        paths = {('artifacts', 'path'): artifacts,
                 ('artifacts', 'decompressedPath'): unarchived,
                 ('work', 'path'): work,
                 ('kernel', 'rootPath'): root}
        lifecycle = interpolate(self.recipe['Lifecycle'], configuration, paths)
        env = dict(os.environ)
        env.update(lifecycle.get('Setenv', {}))

        script, timeout, setenv = lifecycle_step(lifecycle, 'Install')
        p = subprocess.run(['sh', '-c', script], cwd=work, env=dict(env, **setenv),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout or 120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout.decode().strip(), 'edgeclass %s' % self.version)

        script, timeout, setenv = lifecycle_step(lifecycle, 'Run')
        self.assertIsNone(lifecycle_step(lifecycle, 'Startup'))
        log = os.path.join(root, 'run.log')
        with open(log, 'w') as f:
            proc = subprocess.Popen(['sh', '-c', script], cwd=work, env=dict(env, **setenv),
                                    stdout=f, stderr=subprocess.STDOUT)
        return proc, paths, configuration, log

    def nucleus_stop(self, proc, log):
        """The nucleus stops a component with SIGTERM to the Run process's children, then to
        the process itself (UnixPlatform.killProcessAndChildren); exit status must be 0."""
        for pid in children(proc.pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise
        rc = stop(proc)
        with open(log) as f:
            self.assertEqual(rc, 0, f.read())

    def tiny_services(self):
        return {'Connectors': [{
            'Id': 'TinyConnector',
            'ConnectorArn':
                'arn:aws:greengrass:region::/connectors/ImageClassificationx86-64/versions/2',
            'Parameters': {
                'MLModelDestinationPath': TINY,
                'LocalInferenceServiceName': 'tiny',
                'LocalInferenceServiceTimeoutSeconds': '10',
                'LocalInferenceServiceMemoryLimitKB': '100000'}}]}

    def test_install_run_classify_stop(self):
        binary = edgeclass_binary()
        services = self.tiny_services()
        proc, paths, configuration, log = self.install_and_run({'Services': services}, 'default')
        try:
            work = paths[('work', 'path')]
            # Install unpacked the tarball into the work directory; Run exec'd the daemon (so
            # the nucleus's SIGTERM reaches it, not a shell).
            sock_path = os.path.join(work, 'edgeclass.sock')
            wait_for_ping(sock_path, proc, time.time() + WAIT)
            self.assertEqual(os.path.realpath('/proc/%d/exe' % proc.pid),
                             os.path.realpath(os.path.join(work, 'edgeclass', 'bin',
                                                           'edgeclass')))
            with open(os.path.join(work, 'services.json')) as f:
                self.assertEqual(json.load(f), services)
            with open(IMAGE, 'rb') as f:
                image = f.read()
            status, body = request(sock_path, 'POST', '/services/tiny/invocations', image,
                                   {'Content-Type': IMAGE_TYPE})
            self.assertEqual(status, 200, body)
            self.assertEqual(body.decode(), classify_reference(binary))
        finally:
            self.nucleus_stop(proc, log)
        self.assertFalse(os.path.exists(os.path.join(work, 'edgeclass.sock')))

    def test_socket_setting(self):
        """Configuration Socket: a path outside the work directory (for Lambdas of another
        user); its directory is created."""
        sock_path = os.path.join(self.dir, 'shared', 'sockets', 'edgeclass.sock')
        proc, _, _, log = self.install_and_run(
            {'Services': self.tiny_services(), 'Socket': sock_path}, 'socket')
        try:
            wait_for_ping(sock_path, proc, time.time() + WAIT)
            self.assertEqual(stat.S_IMODE(os.stat(sock_path).st_mode), 0o660)
        finally:
            self.nucleus_stop(proc, log)

    def test_missing_services_refused(self):
        """A deployment that reset Services leaves the placeholder uninterpolated: Run says so
        and fails instead of serving nothing."""
        recipe_defaults = self.recipe['ComponentConfiguration']['DefaultConfiguration']
        saved = recipe_defaults.pop('Services')
        try:
            proc, _, _, log = self.install_and_run({}, 'missing')
        finally:
            recipe_defaults['Services'] = saved
        rc = proc.wait(WAIT)
        with open(log) as f:
            out = f.read()
        self.assertNotEqual(rc, 0, out)
        self.assertIn('no Services', out)


if __name__ == '__main__':
    unittest.main()
