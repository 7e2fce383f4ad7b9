//! A real three-node JetStream cluster on loopback: three nats-server
//! processes of the current release, routed to each other, each with its own
//! store in a temporary directory. For the tests (and benchmarks) of what
//! replicated streams promise when a node dies; one node alone, with the
//! same settings, is the baseline the durability benchmark compares with.
//!
//! The binary is the one `infra/scripts/services.sh deploy-tools` wrote to
//! `.pulse/nats-server.path` (a current release; `make test` runs it), else
//! `nats-server` from PATH.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One node: its process (None once killed), ports and files.
struct Node {
    child: Option<Child>,
    name: String,
    client: u16,
    monitor: u16,
    config: PathBuf,
    log: PathBuf,
    store: PathBuf,
}

/// Nodes forming one cluster (or one node alone); all killed when dropped.
pub struct NatsCluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts three nodes and waits until JetStream has a meta leader (each
    /// node's `/healthz` answers 200). Panics, saying why, when it cannot.
    pub fn start() -> Self {
        Self::start_with(3, "")
    }

    /// `count` nodes (1: a server alone, no cluster block), with extra lines
    /// inside each node's `jetstream` block (`sync_interval: always`).
    pub fn start_with(count: usize, jetstream: &str) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        let ports: Vec<(u16, u16, u16)> = (0..count).map(|_| (free_port(), free_port(), free_port())).collect();
        let routes: Vec<String> = ports.iter().map(|(_, route, _)| format!("nats-route://127.0.0.1:{route}")).collect();
        let mut nodes = Vec::new();
        for (index, (client, route, monitor)) in ports.iter().enumerate() {
            let name = format!("n{}", index + 1);
            let config = dir.path().join(format!("{name}.conf"));
            let store = dir.path().join(&name);
            let mut text = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
                 jetstream {{\n  store_dir: \"{}\"\n  {jetstream}\n}}\n",
                store.display()
            );
            if count > 1 {
                let routes = routes.join(", ");
                text +=
                    &format!("cluster {{\n  name: pulse_test\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n");
            }
            std::fs::write(&config, text).unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
            let log = dir.path().join(format!("{name}.log"));
            let child = spawn(&binary(), &config, &log);
            nodes.push(Node { child: Some(child), name, client: *client, monitor: *monitor, config, log, store });
        }
        let cluster = Self { nodes, _dir: dir };
        for node in &cluster.nodes {
            wait_healthy(node.monitor, &node.name, Duration::from_secs(30));
        }
        cluster
    }

    /// Every live node's client URL, `nats://127.0.0.1:<port>`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().filter(|n| n.child.is_some()).map(|n| format!("nats://127.0.0.1:{}", n.client)).collect()
    }

    /// The node names (`n1`, `n2`, `n3`), in order.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Kills a node at once (SIGKILL: no lame duck, no flush), as a crash or
    /// a pulled plug would.
    pub fn kill(&mut self, name: &str) {
        if let Some(mut child) = self.node(name).child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed node again on its own store and ports, and waits
    /// until it is healthy.
    pub fn restart(&mut self, name: &str) {
        let node = self.node(name);
        if node.child.is_none() {
            node.child = Some(spawn(&binary(), &node.config, &node.log));
            wait_healthy(node.monitor, name, Duration::from_secs(30));
        }
    }

    /// Kills a node, deletes its JetStream store and starts it again empty:
    /// a new life of the log, as after `rm -rf` of its data.
    pub fn wipe(&mut self, name: &str) {
        self.kill(name);
        let store = self.node(name).store.clone();
        std::fs::remove_dir_all(&store).unwrap_or_else(|e| panic!("removing {}: {e}", store.display()));
        self.restart(name);
    }

    /// Kills a node and copies its store aside, as a backup taken with the
    /// server down; [`NatsCluster::restore`] puts it back. The node stays
    /// down until restarted.
    pub fn back_up(&mut self, name: &str) -> tempfile::TempDir {
        self.kill(name);
        let copy = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary directory: {e}"));
        copy_dir(&self.node(name).store, copy.path());
        copy
    }

    /// Kills a node, replaces its store with `backup` and starts it again:
    /// the log as it was when the backup was taken.
    pub fn restore(&mut self, name: &str, backup: &tempfile::TempDir) {
        self.kill(name);
        let store = self.node(name).store.clone();
        std::fs::remove_dir_all(&store).unwrap_or_else(|e| panic!("removing {}: {e}", store.display()));
        copy_dir(backup.path(), &store);
        self.restart(name);
    }

    /// Stops a node without closing its connections (SIGSTOP), as a server
    /// that hangs would: what clients sent waits in its sockets, and is read
    /// once [`NatsCluster::resume`] lets it go on.
    pub fn pause(&mut self, name: &str) {
        self.signal(name, "-STOP");
    }

    /// Lets a paused node go on (SIGCONT).
    pub fn resume(&mut self, name: &str) {
        self.signal(name, "-CONT");
    }

    fn signal(&mut self, name: &str, signal: &str) {
        let pid = self.node(name).child.as_ref().unwrap_or_else(|| panic!("node {name} is not running")).id();
        let sent = Command::new("kill").arg(signal).arg(pid.to_string()).status();
        assert!(sent.as_ref().is_ok_and(|s| s.success()), "kill {signal} {pid}: {sent:?}");
    }

    fn node(&mut self, name: &str) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.name == name).unwrap_or_else(|| panic!("no node {name}"))
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                // A paused node would not die of SIGKILL any later, but let
                // it go on first so nothing is left stopped.
                let _ = Command::new("kill").arg("-CONT").arg(child.id().to_string()).status();
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The nats-server to run: `.pulse/nats-server.path`, else PATH's.
fn binary() -> PathBuf {
    let written = concat!(env!("CARGO_MANIFEST_DIR"), "/../.pulse/nats-server.path");
    match std::fs::read_to_string(written) {
        Ok(path) if !path.trim().is_empty() => PathBuf::from(path.trim()),
        _ => PathBuf::from("nats-server"),
    }
}

fn spawn(binary: &Path, config: &Path, log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    Command::new(binary).arg("-c").arg(config).stdout(Stdio::null()).stderr(log).spawn().unwrap_or_else(|e| {
        panic!("starting {} (run `make test`, or infra/scripts/services.sh deploy-tools): {e}", binary.display())
    })
}

/// Waits for `GET /healthz` on the monitoring port to answer 200: the
/// server is up and its JetStream is ready, which in a cluster means the
/// nodes found each other and elected a meta leader.
fn wait_healthy(monitor: u16, name: &str, within: Duration) {
    use std::io::{Read as _, Write as _};
    let deadline = Instant::now() + within;
    loop {
        let answered = std::net::TcpStream::connect(("127.0.0.1", monitor)).ok().and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").ok()?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).ok()?;
            Some(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"))
        });
        if answered == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "nats node {name} not healthy within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
    for entry in entries.flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("copying {}: {e}", entry.path().display()));
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("no free port: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("no free port: {e}")).port()
}
