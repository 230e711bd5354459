//! Carries a VenomMemory channel to other hosts over [Zenoh](https://zenoh.io): an
//! [`Exporter`] attaches to a local channel as a shell and serves it on Zenoh; an [`Importer`]
//! on another host creates an ordinary local channel with the same sizes and bridges it, so
//! unchanged daemons and shells (Rust, C, Python, Dart) talk across hosts.
//!
//! Under the prefix `P` (default `venom`), channel `NAME` is served as:
//!
//! | key | what |
//! |---|---|
//! | `P/NAME/alive` | liveliness token, held while the exported daemon is alive |
//! | `P/NAME/desc` | queryable: the channel's sizes and layout version ([`Description`]) |
//! | `P/NAME/data` | each new data version (publisher, congestion control *drop*: a slow link skips versions, never queues stale ones); also a queryable for the latest value |
//! | `P/NAME/req` | queryable: each query is a `request` on the exported daemon (`?t=MS`: its timeout) |
//! | `P/NAME/cmd` | reliable subscriber: each sample is a command to the exported daemon |
//!
//! Across the bridge the daemon sees every command and request as coming from the exporter's
//! one shell; commands keep their order per importer (one publisher, reliable, in order);
//! requests are answered to the shell that asked. See `docs/BRIDGE.md`.
//!
//! ```no_run
//! use venom_zenoh::{BridgeOptions, Exporter};
//! let options = BridgeOptions {
//!     listen: vec!["tcp/127.0.0.1:7447".into()],
//!     ..BridgeOptions::default()
//! };
//! let exporter = Exporter::start(&["status".to_owned()], &options)?;
//! // ... serve until done:
//! exporter.stop();
//! # Ok::<(), venom_zenoh::BridgeError>(())
//! ```

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;
use venom_shm::sync::{AtomicBool, AtomicU64, Ordering};

use venom_channel::{
    ChannelConfig, ChannelOptions, DEFAULT_REQUEST_TIMEOUT, DaemonChannel, Error as ChannelError,
    LAYOUT_VERSION, ShellChannel, StopHandle, Trust,
};
use zenoh::qos::CongestionControl;
use zenoh::sample::SampleKind;
use zenoh::{Session, Wait};

/// The key prefix when none is given.
pub const DEFAULT_PREFIX: &str = "venom";

/// How often the bridge's loops look at their stop flag and at the exported daemon.
const TICK: Duration = Duration::from_millis(100);

/// Ticks without a new version after which an exporter publishes the latest one again.
const HEARTBEAT_TICKS: u32 = 10;

/// How a bridge joins Zenoh.
#[derive(Debug, Clone)]
pub struct BridgeOptions {
    /// Key prefix (`P` in `P/NAME/...`).
    pub prefix: String,
    /// Endpoints to listen on (`tcp/127.0.0.1:7447`, `tls/...`).
    pub listen: Vec<String>,
    /// Endpoints to connect to.
    pub connect: Vec<String>,
    /// A Zenoh JSON5 configuration file, for anything else (the options above override it).
    pub config: Option<PathBuf>,
    /// Multicast scouting (off unless asked for).
    pub scout: bool,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            listen: Vec::new(),
            connect: Vec::new(),
            config: None,
            scout: false,
        }
    }
}

/// Why a bridge could not start, or what it refused from the network.
#[derive(Debug)]
pub enum BridgeError {
    /// Zenoh's configuration or session failed.
    Zenoh(String),
    /// The local channel failed.
    Channel(ChannelError),
    /// A description from the network that cannot describe a channel here.
    BadDescription(String),
}

impl std::fmt::Display for BridgeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Zenoh(e) => write!(f, "zenoh: {e}"),
            Self::Channel(e) => write!(f, "channel: {e}"),
            Self::BadDescription(e) => write!(f, "bad channel description: {e}"),
        }
    }
}

impl std::error::Error for BridgeError {}

impl From<ChannelError> for BridgeError {
    fn from(e: ChannelError) -> Self {
        Self::Channel(e)
    }
}

fn zerr(e: impl std::fmt::Display) -> BridgeError {
    BridgeError::Zenoh(e.to_string())
}

/// Counters of one bridge (all channels it carries).
#[derive(Debug, Default)]
pub struct Stats {
    data_updates: AtomicU64,
    commands: AtomicU64,
    commands_undelivered: AtomicU64,
    requests: AtomicU64,
    request_failures: AtomicU64,
    bad_input: AtomicU64,
}

/// A copy of a bridge's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Data versions forwarded (exporter: published; importer: written locally).
    pub data_updates: u64,
    /// Commands forwarded.
    pub commands: u64,
    /// Commands that could not be forwarded (the link or the remote daemon was gone, or the
    /// exported daemon's queue stayed full until it went away): counted, never silently lost.
    pub commands_undelivered: u64,
    /// Requests answered across the bridge.
    pub requests: u64,
    /// Requests that got no answer (timeout, link lost, remote error).
    pub request_failures: u64,
    /// Input from the network refused (a malformed description, data larger than the local
    /// channel, an unknown layout version): each also logged.
    pub bad_input: u64,
}

impl Stats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            data_updates: r(&self.data_updates),
            commands: r(&self.commands),
            commands_undelivered: r(&self.commands_undelivered),
            requests: r(&self.requests),
            request_failures: r(&self.request_failures),
            bad_input: r(&self.bad_input),
        }
    }
}

fn log(msg: std::fmt::Arguments<'_>) {
    eprintln!("venom-zenoh: {msg}");
}

/// A retry loop's log: a line is written once, not again while it repeats (a bridge that
/// retries every 100 ms does not flood its log with one cause).
#[derive(Debug, Default)]
struct OnceLog(Option<String>);

impl OnceLog {
    fn say(&mut self, line: String) {
        if self.0.as_ref() != Some(&line) {
            log(format_args!("{line}"));
            self.0 = Some(line);
        }
    }

    /// Something else happened: the next line is written even if it repeats the last.
    fn reset(&mut self) {
        self.0 = None;
    }
}

/// Opens a Zenoh session as `options` say: peer mode, multicast scouting off unless asked.
///
/// # Errors
/// [`BridgeError::Zenoh`].
pub fn open_session(options: &BridgeOptions) -> Result<Session, BridgeError> {
    let mut config = match &options.config {
        Some(path) => zenoh::Config::from_file(path).map_err(zerr)?,
        None => zenoh::Config::default(),
    };
    let list = |v: &[String]| {
        let quoted: Vec<String> = v.iter().map(|e| format!("{e:?}")).collect();
        format!("[{}]", quoted.join(","))
    };
    if options.config.is_none() {
        config.insert_json5("mode", "\"peer\"").map_err(zerr)?;
    }
    if !options.listen.is_empty() || options.config.is_none() {
        config
            .insert_json5("listen/endpoints", &list(&options.listen))
            .map_err(zerr)?;
    }
    if !options.connect.is_empty() {
        config
            .insert_json5("connect/endpoints", &list(&options.connect))
            .map_err(zerr)?;
    }
    let scout = if options.scout { "true" } else { "false" };
    config
        .insert_json5("scouting/multicast/enabled", scout)
        .map_err(zerr)?;
    zenoh::open(config).wait().map_err(zerr)
}

fn key(prefix: &str, name: &str, leaf: &str) -> String {
    format!("{prefix}/{name}/{leaf}")
}

/// What an importer needs to create a channel like the exported one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Description {
    /// The exported channel's layout version (an importer requires its own).
    pub layout_version: u32,
    /// Most bytes of data.
    pub data_size: usize,
    /// Data slots.
    pub data_slots: u32,
    /// Command queue slots.
    pub cmd_slots: u32,
    /// Bytes of one command slot.
    pub cmd_slot_size: u32,
    /// Most shells.
    pub max_clients: u32,
    /// Most bytes of a reply.
    pub response_size: usize,
}

const DESCRIPTION_TAG: &str = "venom-zenoh/1";

impl Description {
    /// The description of local channel `name`.
    ///
    /// # Errors
    /// As `venom_channel::inspect::channel`.
    pub fn of_channel(name: &str) -> Result<Self, BridgeError> {
        let info = venom_channel::inspect::channel(name, Trust::own())?;
        Ok(Self {
            layout_version: info.layout_version,
            data_size: info.data_size,
            data_slots: info.data_slots,
            cmd_slots: info.cmd_slots,
            cmd_slot_size: info.cmd_slot_size,
            max_clients: info.max_clients,
            response_size: info.response_size,
        })
    }

    /// The wire form: one line of `key=value` words after a tag.
    pub fn encode(&self) -> String {
        format!(
            "{DESCRIPTION_TAG} layout={} data_size={} data_slots={} cmd_slots={} \
             cmd_slot_size={} max_clients={} response_size={}",
            self.layout_version,
            self.data_size,
            self.data_slots,
            self.cmd_slots,
            self.cmd_slot_size,
            self.max_clients,
            self.response_size
        )
    }

    /// Parses the wire form; every field exactly once, and this build's layout version.
    ///
    /// # Errors
    /// [`BridgeError::BadDescription`] naming what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, BridgeError> {
        let bad = |why: String| BridgeError::BadDescription(why);
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
        let mut words = text.split_ascii_whitespace();
        if words.next() != Some(DESCRIPTION_TAG) {
            return Err(bad(format!("not a {DESCRIPTION_TAG} description")));
        }
        let mut fields: [Option<u64>; 7] = [None; 7];
        const NAMES: [&str; 7] = [
            "layout",
            "data_size",
            "data_slots",
            "cmd_slots",
            "cmd_slot_size",
            "max_clients",
            "response_size",
        ];
        for word in words {
            let (k, v) = word
                .split_once('=')
                .ok_or_else(|| bad(format!("`{word}` is not key=value")))?;
            let i = NAMES
                .iter()
                .position(|n| *n == k)
                .ok_or_else(|| bad(format!("unknown field `{k}`")))?;
            let v: u64 = v
                .parse()
                .map_err(|_| bad(format!("`{k}` is not a number")))?;
            if fields[i].replace(v).is_some() {
                return Err(bad(format!("`{k}` given twice")));
            }
        }
        let get = |i: usize| fields[i].ok_or_else(|| bad(format!("`{}` missing", NAMES[i])));
        let u32_of = |i: usize| {
            get(i).and_then(|v| {
                u32::try_from(v).map_err(|_| bad(format!("`{}` too large", NAMES[i])))
            })
        };
        let usize_of = |i: usize| {
            get(i).and_then(|v| {
                usize::try_from(v).map_err(|_| bad(format!("`{}` too large", NAMES[i])))
            })
        };
        let d = Self {
            layout_version: u32_of(0)?,
            data_size: usize_of(1)?,
            data_slots: u32_of(2)?,
            cmd_slots: u32_of(3)?,
            cmd_slot_size: u32_of(4)?,
            max_clients: u32_of(5)?,
            response_size: usize_of(6)?,
        };
        if d.layout_version != LAYOUT_VERSION {
            return Err(bad(format!(
                "layout version {} (this build has {LAYOUT_VERSION})",
                d.layout_version
            )));
        }
        Ok(d)
    }

    /// Options for a local channel of these sizes.
    pub fn options(&self) -> ChannelOptions {
        ChannelOptions::new(ChannelConfig {
            data_size: self.data_size,
            cmd_slots: self.cmd_slots as usize,
            max_clients: self.max_clients as usize,
        })
        .command_slot_size(self.cmd_slot_size)
        .response_size(self.response_size)
        .data_slots(self.data_slots)
    }
}

// ---------------------------------------------------------------------------------------------
// Exporter

/// Serves local channels on Zenoh (one thread per channel, plus request and command workers
/// while its daemon is alive). Dropping it stops it, as [`stop`](Self::stop) does.
#[derive(Debug)]
pub struct Exporter {
    threads: Threads,
}

/// A bridge's threads (one per channel), the flag that stops them and their counters.
#[derive(Debug, Default)]
struct Threads {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    stats: Arc<Stats>,
}

impl Threads {
    /// Raises the stop flag, calls `wake` (for loops that sleep elsewhere), joins.
    fn halt(&mut self, wake: impl FnOnce()) {
        self.stop.store(true, Ordering::Relaxed);
        wake();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Exporter {
    /// Starts exporting each channel in `names` (each waits for its daemon to appear).
    ///
    /// # Errors
    /// [`BridgeError::Zenoh`] if the session cannot open.
    pub fn start(names: &[String], options: &BridgeOptions) -> Result<Self, BridgeError> {
        let session = open_session(options)?;
        let mut threads = Threads::default();
        threads.threads = names
            .iter()
            .map(|name| {
                let ctx = ExportCtx {
                    session: session.clone(),
                    name: name.clone(),
                    prefix: options.prefix.clone(),
                    stop: threads.stop.clone(),
                    stats: threads.stats.clone(),
                };
                std::thread::spawn(move || ctx.run())
            })
            .collect();
        Ok(Self { threads })
    }

    /// The counters so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.threads.stats.snapshot()
    }

    /// Stops serving (within about 100 ms) and waits for the threads.
    pub fn stop(mut self) {
        self.threads.halt(|| {});
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.threads.halt(|| {});
    }
}

struct ExportCtx {
    session: Session,
    name: String,
    prefix: String,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
}

impl ExportCtx {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Attaches to the channel whenever its daemon is there, serves it until it goes.
    fn run(self) {
        let mut quiet = OnceLog::default();
        while !self.stopped() {
            // No spinning: the bridge's waits are network-long, and a core spun away here is
            // one Zenoh's own threads do not get (measured: spinning bridges were slower).
            let options = venom_channel::ShellOptions::new().spin(0);
            let shell = match ShellChannel::connect_with(&self.name, &options) {
                Ok(s) => s,
                Err(e) => {
                    quiet.say(format!("{}: waiting for the channel ({e})", self.name));
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            match self.serve(Arc::new(shell)) {
                Ok(()) => {
                    quiet.reset();
                    log(format_args!("{}: the local daemon is gone", self.name));
                }
                Err(e) => {
                    quiet.say(format!("{}: {e}", self.name));
                    std::thread::sleep(TICK);
                }
            }
        }
    }

    fn serve(&self, shell: Arc<ShellChannel>) -> Result<(), BridgeError> {
        let desc = Description::of_channel(&self.name)?.encode();
        let k = |leaf| key(&self.prefix, &self.name, leaf);
        let lost = &AtomicBool::new(false);
        let _desc_q = self
            .session
            .declare_queryable(k("desc"))
            .callback(move |q| {
                let _ = q.reply(q.key_expr().clone(), desc.as_bytes()).wait();
            })
            .wait()
            .map_err(zerr)?;
        let latest = {
            let shell = shell.clone();
            let mut buf = vec![0u8; shell.data_size()];
            let buf = Mutex::new(std::mem::take(&mut buf));
            self.session
                .declare_queryable(k("data"))
                .callback(move |q| {
                    let mut buf = buf.lock().unwrap_or_else(|p| p.into_inner());
                    if let Ok(Some(snap)) = shell.read_data_if_changed(0, &mut buf) {
                        let _ = q
                            .reply(q.key_expr().clone(), &buf[..snap.len])
                            .attachment(snap.version.to_le_bytes().to_vec())
                            .wait();
                    }
                })
                .wait()
                .map_err(zerr)?
        };
        let requests = Arc::new(
            self.session
                .declare_queryable(k("req"))
                .wait()
                .map_err(zerr)?,
        );
        let commands = self
            .session
            .declare_subscriber(k("cmd"))
            .wait()
            .map_err(zerr)?;
        let publisher = self
            .session
            .declare_publisher(k("data"))
            .congestion_control(CongestionControl::Drop)
            .wait()
            .map_err(zerr)?;
        let token = self
            .session
            .liveliness()
            .declare_token(k("alive"))
            .wait()
            .map_err(zerr)?;
        log(format_args!("{}: exported as {}", self.name, k("*")));

        let done = || self.stopped() || lost.load(Ordering::Relaxed);
        std::thread::scope(|s| {
            for _ in 0..2 {
                let (requests, shell) = (requests.clone(), shell.clone());
                s.spawn(move || {
                    let mut buf = vec![0u8; shell.response_size()];
                    while !done() {
                        let Ok(Some(query)) = requests.recv_timeout(TICK) else {
                            continue;
                        };
                        self.answer(&shell, &query, &mut buf, lost);
                    }
                });
            }
            let (commands, shell_ref) = (&commands, &*shell);
            s.spawn(move || {
                while !done() {
                    let Ok(Some(sample)) = commands.recv_timeout(TICK) else {
                        continue;
                    };
                    self.forward_command(shell_ref, &sample.payload().to_bytes(), lost);
                }
            });
            // This thread: each new data version onto the publisher, with its version as the
            // attachment; the latest again after a second without one (an importer whose
            // subscription reached us after a put would otherwise keep a stale value until
            // the next change; importers skip versions they have).
            let mut buf = vec![0u8; shell.data_size()];
            let (mut since, mut idle) = (0, 0u32);
            while !done() {
                let look = if idle >= HEARTBEAT_TICKS { 0 } else { since };
                match shell.read_data_if_changed(look, &mut buf) {
                    Ok(Some(snap)) => {
                        let fresh = snap.version != since;
                        (since, idle) = (snap.version, 0);
                        let put = publisher
                            .put(&buf[..snap.len])
                            .attachment(snap.version.to_le_bytes().to_vec())
                            .wait();
                        if put.is_ok() && fresh {
                            Stats::bump(&self.stats.data_updates);
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(ChannelError::Disconnected) => {
                        lost.store(true, Ordering::Relaxed);
                        break;
                    }
                    Err(_) => {} // a torn or contended read: look again after the wait
                }
                match shell.wait_for_data_timeout(since, TICK) {
                    Err(ChannelError::Disconnected) => lost.store(true, Ordering::Relaxed),
                    Err(ChannelError::Timeout) => idle += 1,
                    _ => {}
                }
            }
            lost.store(true, Ordering::Relaxed);
        });
        // Withdrawn in this order: no importer sees the token after the queryables are gone.
        let _ = token.undeclare().wait();
        drop(latest);
        Ok(())
    }

    fn answer(
        &self,
        shell: &ShellChannel,
        query: &zenoh::query::Query,
        buf: &mut [u8],
        lost: &AtomicBool,
    ) {
        let payload = query
            .payload()
            .map(|p| p.to_bytes().into_owned())
            .unwrap_or_default();
        let timeout = query
            .parameters()
            .get("t")
            .and_then(|t| t.parse::<u64>().ok())
            .map_or(DEFAULT_REQUEST_TIMEOUT, Duration::from_millis);
        match shell.request_timeout(&payload, buf, timeout) {
            Ok(n) => {
                Stats::bump(&self.stats.requests);
                let _ = query.reply(query.key_expr().clone(), &buf[..n]).wait();
            }
            Err(e) => {
                if matches!(e, ChannelError::Disconnected) {
                    lost.store(true, Ordering::Relaxed);
                }
                Stats::bump(&self.stats.request_failures);
                let _ = query.reply_err(e.to_string()).wait();
            }
        }
    }

    /// Sends one command to the exported daemon, waiting while its queue is full (commands
    /// are reliable): counted as undelivered only if the daemon goes away meanwhile.
    fn forward_command(&self, shell: &ShellChannel, cmd: &[u8], lost: &AtomicBool) {
        loop {
            match shell.try_send_command(cmd) {
                Ok(()) => return Stats::bump(&self.stats.commands),
                Err(ChannelError::QueueFull) if !self.stopped() => std::thread::yield_now(),
                Err(e) => {
                    if matches!(e, ChannelError::Disconnected) {
                        lost.store(true, Ordering::Relaxed);
                    } else {
                        log(format_args!(
                            "{}: a command from the network: {e}",
                            self.name
                        ));
                    }
                    return Stats::bump(&self.stats.commands_undelivered);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Importer

/// Creates local channels that mirror exported ones (one thread per channel). Dropping it
/// stops it (and removes the local channels), as [`stop`](Self::stop) does.
#[derive(Debug)]
pub struct Importer {
    threads: Threads,
    serving: Vec<Arc<Mutex<Option<StopHandle>>>>,
}

impl Importer {
    /// Starts importing each `(remote, local)` pair: channel `remote` of the exporters reached
    /// through `options` becomes local channel `local`.
    ///
    /// # Errors
    /// [`BridgeError::Zenoh`] if the session cannot open.
    pub fn start(pairs: &[(String, String)], options: &BridgeOptions) -> Result<Self, BridgeError> {
        let session = open_session(options)?;
        let mut threads = Threads::default();
        let mut serving = Vec::new();
        threads.threads = pairs
            .iter()
            .map(|(remote, local)| {
                let slot = Arc::new(Mutex::new(None));
                serving.push(slot.clone());
                let ctx = ImportCtx {
                    session: session.clone(),
                    remote: remote.clone(),
                    local: local.clone(),
                    prefix: options.prefix.clone(),
                    stop: threads.stop.clone(),
                    stats: threads.stats.clone(),
                    serving: slot,
                };
                std::thread::spawn(move || ctx.run())
            })
            .collect();
        Ok(Self { threads, serving })
    }

    /// The counters so far.
    pub fn stats(&self) -> StatsSnapshot {
        self.threads.stats.snapshot()
    }

    /// Stops, removes the local channels and waits for the threads.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let serving = &self.serving;
        self.threads.halt(|| {
            for slot in serving {
                if let Some(h) = &*slot.lock().unwrap_or_else(|p| p.into_inner()) {
                    h.stop();
                }
            }
        });
    }
}

impl Drop for Importer {
    fn drop(&mut self) {
        self.halt();
    }
}

struct ImportCtx {
    session: Session,
    remote: String,
    local: String,
    prefix: String,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    serving: Arc<Mutex<Option<StopHandle>>>,
}

impl ImportCtx {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn key(&self, leaf: &str) -> String {
        key(&self.prefix, &self.remote, leaf)
    }

    /// Whether an exporter's token for the channel is live now (waits up to `TICK`).
    fn exporter_alive(&self) -> bool {
        let Ok(replies) = self
            .session
            .liveliness()
            .get(self.key("alive"))
            .timeout(TICK)
            .wait()
        else {
            return false;
        };
        replies.recv().is_ok_and(|r| r.result().is_ok())
    }

    fn run(self) {
        let mut quiet = OnceLog::default();
        while !self.stopped() {
            if !self.exporter_alive() {
                quiet.say(format!("{}: waiting for its exporter", self.remote));
                continue;
            }
            match self.mirror() {
                Ok(()) => {
                    quiet.reset();
                    log(format_args!(
                        "{}: the exporter is gone; local channel {} removed",
                        self.remote, self.local
                    ));
                }
                Err(e) => {
                    quiet.say(format!("{}: {e}", self.remote));
                    std::thread::sleep(TICK);
                }
            }
        }
    }

    fn description(&self) -> Result<Description, BridgeError> {
        let replies = self
            .session
            .get(self.key("desc"))
            .timeout(Duration::from_secs(2))
            .wait()
            .map_err(zerr)?;
        let reply = replies
            .recv()
            .map_err(|_| BridgeError::Zenoh("no description received".into()))?;
        let sample = reply.result().map_err(|e| {
            BridgeError::Zenoh(format!("description: {:?}", e.payload().to_bytes()))
        })?;
        Description::decode(&sample.payload().to_bytes()).inspect_err(|_| {
            Stats::bump(&self.stats.bad_input);
        })
    }

    /// Creates the local channel, bridges it until the exporter goes or the importer stops,
    /// then removes it.
    fn mirror(&self) -> Result<(), BridgeError> {
        let desc = self.description()?;
        // No spinning (see the exporter's shell).
        let options = desc.options().spin(0);
        let daemon = Arc::new(DaemonChannel::create_with(&self.local, &options)?);
        let lost = Arc::new(AtomicBool::new(false));
        let halt = daemon.stop_handle();
        *self.serving.lock().unwrap_or_else(|p| p.into_inner()) = Some(halt.clone());
        let on_token = {
            let (lost, halt) = (lost.clone(), halt.clone());
            self.session
                .liveliness()
                .declare_subscriber(self.key("alive"))
                .callback(move |sample| {
                    if sample.kind() == SampleKind::Delete {
                        lost.store(true, Ordering::Relaxed);
                        halt.stop();
                    }
                })
                .wait()
                .map_err(zerr)?
        };
        // The exported version each sample carries: a version already written is skipped
        // (the exporter's heartbeat, or the first value both queried and published).
        let last = Arc::new(AtomicU64::new(0));
        let write = {
            let last = last.clone();
            move |sample: &zenoh::sample::Sample,
                  daemon: &DaemonChannel,
                  stats: &Stats,
                  name: &str| {
                let version = sample.attachment().and_then(|a| {
                    <[u8; 8]>::try_from(&*a.to_bytes())
                        .ok()
                        .map(u64::from_le_bytes)
                });
                if let Some(v) = version
                    && last.swap(v, Ordering::Relaxed) == v
                {
                    return;
                }
                match daemon.write_data(&sample.payload().to_bytes()) {
                    Ok(()) => Stats::bump(&stats.data_updates),
                    Err(e) => {
                        Stats::bump(&stats.bad_input);
                        log(format_args!("{name}: data from the network refused: {e}"));
                    }
                }
            }
        };
        let on_data = {
            let (daemon, stats, name) = (
                Arc::downgrade(&daemon),
                self.stats.clone(),
                self.remote.clone(),
            );
            self.session
                .declare_subscriber(self.key("data"))
                .callback({
                    let write = write.clone();
                    move |sample| {
                        if let Some(d) = daemon.upgrade() {
                            write(&sample, &d, &stats, &name);
                        }
                    }
                })
                .wait()
                .map_err(zerr)?
        };
        // The value as it is now (an update published before our subscriber is not replayed).
        if let Ok(replies) = self
            .session
            .get(self.key("data"))
            .timeout(Duration::from_secs(1))
            .wait()
            && let Ok(reply) = replies.recv()
            && let Ok(sample) = reply.result()
        {
            write(sample, &daemon, &self.stats, &self.remote);
        }
        // The token may have gone before our subscriber saw it.
        if !self.exporter_alive() {
            lost.store(true, Ordering::Relaxed);
        }
        let commands = self
            .session
            .declare_publisher(self.key("cmd"))
            .congestion_control(CongestionControl::Block)
            .wait()
            .map_err(zerr)?;
        log(format_args!(
            "{}: imported as local channel {}",
            self.remote, self.local
        ));
        let weak = Arc::downgrade(&daemon);
        if !lost.load(Ordering::Relaxed) && !self.stopped() {
            daemon.serve(|cmd, bytes| match cmd.request_id {
                None => {
                    if lost.load(Ordering::Relaxed) || commands.put(bytes).wait().is_err() {
                        Stats::bump(&self.stats.commands_undelivered);
                    } else {
                        Stats::bump(&self.stats.commands);
                    }
                }
                Some(request) => self.forward_request(&weak, cmd.client_id, request, bytes),
            })?;
        }
        *self.serving.lock().unwrap_or_else(|p| p.into_inner()) = None;
        drop(on_token);
        drop(on_data);
        drop(daemon); // the local channel goes: its shells see `Disconnected`
        Ok(())
    }

    /// Turns a local request into a query; its reply (delivered on Zenoh's thread) goes to
    /// the shell that asked, or nowhere (its request times out) if none comes in time.
    fn forward_request(
        &self,
        daemon: &Weak<DaemonChannel>,
        client: venom_channel::ClientId,
        request: venom_channel::RequestId,
        bytes: &[u8],
    ) {
        let pending = Arc::new(PendingRequest {
            daemon: daemon.clone(),
            client,
            request,
            stats: self.stats.clone(),
            name: self.remote.clone(),
            answered: AtomicBool::new(false),
        });
        let selector = format!(
            "{}?t={}",
            self.key("req"),
            DEFAULT_REQUEST_TIMEOUT.as_millis()
        );
        let sent = self
            .session
            .get(selector)
            .payload(bytes.to_vec())
            .timeout(DEFAULT_REQUEST_TIMEOUT)
            .callback(move |reply| pending.deliver(&reply))
            .wait();
        if let Err(e) = sent {
            log(format_args!(
                "{}: a request could not be sent: {e}",
                self.remote
            ));
        }
    }
}

/// A request sent as a query: answers its shell with the first reply; counted as failed if
/// the query ends without one (dropped with the query's callback).
struct PendingRequest {
    daemon: Weak<DaemonChannel>,
    client: venom_channel::ClientId,
    request: venom_channel::RequestId,
    stats: Arc<Stats>,
    name: String,
    answered: AtomicBool,
}

impl PendingRequest {
    fn deliver(&self, reply: &zenoh::query::Reply) {
        if self.answered.swap(true, Ordering::Relaxed) {
            return; // one reply per request
        }
        match reply.result() {
            Ok(sample) => {
                if let Some(d) = self.daemon.upgrade()
                    && d.reply(self.client, self.request, &sample.payload().to_bytes())
                        .is_ok()
                {
                    Stats::bump(&self.stats.requests);
                } else {
                    Stats::bump(&self.stats.request_failures);
                }
            }
            Err(e) => {
                Stats::bump(&self.stats.request_failures);
                log(format_args!(
                    "{}: a request failed remotely: {}",
                    self.name,
                    String::from_utf8_lossy(&e.payload().to_bytes())
                ));
            }
        }
    }
}

impl Drop for PendingRequest {
    fn drop(&mut self) {
        if !self.answered.load(Ordering::Relaxed) {
            Stats::bump(&self.stats.request_failures);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Description {
        Description {
            layout_version: LAYOUT_VERSION,
            data_size: 4096,
            data_slots: 3,
            cmd_slots: 64,
            cmd_slot_size: 256,
            max_clients: 8,
            response_size: 1024,
        }
    }

    #[test]
    fn a_description_round_trips() {
        assert_eq!(
            Description::decode(sample().encode().as_bytes()).unwrap(),
            sample()
        );
    }

    #[test]
    fn malformed_descriptions_are_errors_never_panics() {
        let good = sample().encode();
        let cases = [
            String::new(),
            "hello".into(),
            good.replace("layout=", "layout=9"),
            good.replace(" data_size=4096", ""),
            good.clone() + " data_size=1",
            good.replace("max_clients=8", "max_clients=x"),
            good.replace("max_clients=8", "max_clients=99999999999"),
            good.replace("cmd_slots=64", "cmd_slots"),
            good.clone() + " colour=3",
        ];
        for bad in &cases {
            assert!(
                matches!(
                    Description::decode(bad.as_bytes()),
                    Err(BridgeError::BadDescription(_))
                ),
                "{bad:?}"
            );
        }
        assert!(Description::decode(&[0xff, 0xfe]).is_err());
    }
}
