//! sioload: the project's load tool. It measures any Socket.IO server from outside, the same way for
//! every implementation, with raw Engine.IO v4 / Socket.IO v5 frames over WebSocket or HTTP
//! long-polling, or over WebTransport for a server that serves it (`protocol_tests::load`).
//!
//! The server under test implements three events on namespace `/`: `echo` (emit `echo` back to the
//! sender with the same argument), `join` (join the room named by the argument) and `bcast` (emit
//! `bcast` with the same argument to room `bench`); see `socketio-server/examples/bench_server.rs`.
//!
//! ```text
//! sioload bench [--rounds N] [--measures mem,connect,bcast,echo,poll,wt] [--no-pin] SERVERS...
//! sioload scale [--conns 19900] [--msgs 10] [--ping-interval 2000] [--idle-secs 10] SERVERS...
//! sioload echo  --port P [--pid PID] [--transport websocket|polling|webtransport] [--cert-hash B64]
//!               [--conns 50] [--secs 5] [--bytes 32]
//! sioload bcast --port P [--pid PID] [--transport T] [--conns 1000] [--msgs 300] [--bytes 32]
//! sioload idle  --port P [--pid PID] [--conns 5000] [--hold 2]
//! sioload churn --port P [--pid PID] [--transport T] [--conns 2000] [--parallel 8]
//! sioload soak  --port P [--pid PID] [--secs 60] [--conns 64]
//! sioload cluster-poll --ports P1,P2,P3 [--pids PID,PID,...] [--conns 48] [--secs 5] [--bytes 32]
//!                      [--requests local,foreign]
//! sioload cluster-ws   --ports P1,P2,P3 [--pids PID,PID,...] [--conns 48] [--secs 5] [--bytes 32]
//!                      [--delay-ms 500]
//! ```
//!
//! `cluster-poll` measures the cluster engine (nodes started with `--redis URL --cluster-engine`,
//! see `scripts/cluster-bench.sh`): polling echo round trips with every request local, then
//! every request foreign (sent to the next node), CPU summed over `--pids`; `--requests foreign`
//! runs one of the two only (e.g. to profile a node). `cluster-ws`: echo
//! round trips over WebSockets opened directly, then over polling sessions upgraded after
//! `--delay-ms` (past the 300 ms connect delay, so no takeover) on the next node, which proxies
//! the WebSocket to the owner.
//!
//! `--transport webtransport` needs `--cert-hash`: the base64 SHA-256 of the server's certificate,
//! the line `webtransport-cert-hash <base64>` that `bench_server --webtransport` (or the
//! conformance server) prints. The `wt` measure of `bench` starts ours a second time, with
//! `--webtransport`, and measures echo round trips over WebTransport as `echo` does over
//! WebSocket (the other servers do not serve WebTransport here).
//!
//! SERVERS are `ours`, `floor`, `socketioxide`, `node` (default: all four). `bench` and `scale`
//! build and start each server themselves, pinned to CPU 0 with `taskset` (run the tool itself on
//! CPU 1: `scripts/bench.sh` does), and take turns per round so a noisy spell on a shared machine
//! hits every server; every other round runs them in reverse order, so that no server always
//! follows the same one (the connects of one leave sockets in TIME_WAIT for the next). Besides the
//! medians, `bench` prints the median of the per-round ratios `peer/ours` (each round's two figures
//! were measured seconds apart, so a slow hour cancels out of them) and in how many rounds ours
//! cost no more than the peer. With `--pid`, the single modes read that process's CPU time and memory.
//!
//! The server's CPU time (user + system, all threads, `/proc/PID/task/*/schedstat`) is read
//! around the measured phase only: after the clients connected and joined, until the last answer
//! (the clients close after the reading). Before each measure of `bench`, the tool waits until the
//! server's CPU time stands still (under 1 ms in 50 ms), so that a server still closing the
//! previous measure's thousands of sessions does not count that work in the next one.
//! Lower is better for every figure; `peer/ours` ratios above 1 mean ours costs less.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol_tests::load::workloads::{
    bcast, churn, cluster_poll, cluster_ws, echo, fail, idle, per, soak, wait_for, Target,
};
use protocol_tests::load::{self, BenchServer, ServerKind, SioClient, Transport};

/// Command-line options: `--key value` pairs and bare words.
struct Options {
    named: HashMap<String, String>,
    words: Vec<String>,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> Options {
        let mut named = HashMap::new();
        let mut words = Vec::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            if let Some(key) = arg.strip_prefix("--") {
                let flag = matches!(key, "no-pin");
                let value = if flag {
                    String::new()
                } else {
                    args.next().unwrap_or_default()
                };
                named.insert(key.to_owned(), value);
            } else {
                words.push(arg);
            }
        }
        Options { named, words }
    }

    fn num(&self, key: &str, default: u64) -> u64 {
        match self.named.get(key) {
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| fail(&format!("--{key} {v}: not a number"))),
            None => default,
        }
    }

    fn has(&self, key: &str) -> bool {
        self.named.contains_key(key)
    }

    fn transport(&self) -> Transport {
        match self.named.get("transport").map(String::as_str) {
            None | Some("websocket") | Some("ws") => Transport::WebSocket,
            Some("polling") => Transport::Polling,
            Some("webtransport") | Some("wt") => {
                let hash = self.named.get("cert-hash").unwrap_or_else(|| {
                    fail("--transport webtransport needs --cert-hash B64 (the server's `webtransport-cert-hash` line)")
                });
                Transport::WebTransport {
                    cert_hash: load::parse_cert_hash(hash).unwrap_or_else(|e| fail(&e)),
                }
            }
            Some(other) => fail(&format!(
                "--transport {other}: websocket, polling or webtransport"
            )),
        }
    }

    fn servers(&self) -> Vec<ServerKind> {
        if self.words.is_empty() {
            return ServerKind::ALL.to_vec();
        }
        self.words
            .iter()
            .map(|w| ServerKind::parse(w).unwrap_or_else(|| fail(&format!("unknown server {w}"))))
            .collect()
    }
}

/// The figures of one `bench` run, keyed by measure then server.
type Figures = BTreeMap<&'static str, BTreeMap<&'static str, Vec<f64>>>;

/// One measure of `bench`: its key, its label in the table, its unit.
const MEASURES: [(&str, &str, &str); 6] = [
    ("mem", "memory per idle WebSocket", "KiB"),
    ("connect", "server CPU per connect", "µs"),
    ("bcast", "CPU per broadcast delivery", "ns"),
    ("echo", "CPU per echo round trip", "µs"),
    ("poll", "CPU per polling round trip", "µs"),
    ("wt", "CPU per WebTransport echo", "µs"),
];

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn start(kind: ServerKind, pin: bool, ping: Option<Duration>) -> BenchServer {
    BenchServer::start(kind, pin.then_some(0), ping).unwrap_or_else(|e| fail(&e))
}

fn check_pinning(pin: bool) {
    if pin && !protocol_tests::deps::binary_on_path("taskset") {
        fail("taskset is needed to pin the servers to CPU 0 (util-linux), or pass --no-pin");
    }
}

async fn bench(o: &Options) {
    let servers = o.servers();
    let rounds = o.num("rounds", 1);
    let pin = !o.has("no-pin");
    check_pinning(pin);
    let wanted: Vec<String> = o
        .named
        .get("measures")
        .map(|m| m.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|| MEASURES.iter().map(|m| m.0.to_owned()).collect());
    let want = |m: &str| wanted.iter().any(|w| w == m);
    let mut figures: Figures = BTreeMap::new();
    let mut record = |m: &'static str, s: ServerKind, v: f64| {
        figures
            .entry(m)
            .or_default()
            .entry(s.name())
            .or_default()
            .push(v);
    };
    // Closed-loop echoes of 32 B, the clients and seconds from the options named.
    let echo_with = |t: Target, transport: Transport, conns: &str, secs: &str| {
        echo(t, transport, o.num(conns, 50), o.num(secs, 5), 32)
    };
    // Build everything first, so no build runs while another server is measured.
    for &kind in &servers {
        load::build(kind).unwrap_or_else(|e| fail(&e));
    }
    for round in 1..=rounds {
        let mut order = servers.clone();
        if round % 2 == 0 {
            order.reverse();
        }
        for &kind in &order {
            let server = start(kind, pin, None);
            let t = Target::of(&server);
            let name = kind.name();
            println!("== round {round}/{rounds}: {name} (pid {})", server.pid());
            if want("mem") {
                t.settle().await;
                print!("{name} ");
                let v = idle(t, o.num("idle-conns", 5000), Duration::from_secs(2)).await;
                record("mem", kind, v);
            }
            if want("connect") {
                t.settle().await;
                print!("{name} ");
                let v = churn(t, Transport::WebSocket, o.num("conns", 2000), 8).await;
                record("connect", kind, v);
            }
            if want("bcast") {
                t.settle().await;
                print!("{name} ");
                let conns = o.num("bcast-conns", 1000);
                let msgs = o.num("bcast-msgs", 300);
                let v = bcast(t, Transport::WebSocket, conns, msgs, 32).await;
                record("bcast", kind, v);
            }
            if want("echo") {
                t.settle().await;
                print!("{name} ");
                let v = echo_with(t, Transport::WebSocket, "echo-conns", "echo-secs").await;
                record("echo", kind, v);
            }
            if want("poll") && kind.polls() {
                t.settle().await;
                print!("{name} ");
                let v = echo_with(t, Transport::Polling, "poll-conns", "poll-secs").await;
                record("poll", kind, v);
            }
            drop(server);
            tokio::time::sleep(Duration::from_millis(500)).await;
            if want("wt") && kind.webtransport() {
                // Its own server: `--webtransport` changes the handshake (`upgrades`), which the
                // other measures must not see.
                let server = BenchServer::start_with(kind, pin.then_some(0), None, true)
                    .unwrap_or_else(|e| fail(&e));
                let transport = server
                    .webtransport()
                    .unwrap_or_else(|| fail("no certificate hash"));
                print!("{name} ");
                let t = Target::of(&server);
                let v = echo_with(t, transport, "echo-conns", "echo-secs").await;
                record("wt", kind, v);
                drop(server);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    println!("== median of {rounds} round(s), lower is better");
    let mut header = format!("{:<32}", "measure");
    for s in &servers {
        header.push_str(&format!(" {:>13}", s.name()));
    }
    println!("{header}");
    for (key, label, unit) in MEASURES {
        let Some(by_server) = figures.get(key) else {
            continue;
        };
        let mut line = format!("{:<32}", format!("{label} ({unit})"));
        for s in &servers {
            let m = by_server
                .get(s.name())
                .map(|v| median(v))
                .unwrap_or(f64::NAN);
            line.push_str(&format!(" {:>13}", format_figure(m)));
        }
        println!("{line}");
    }
    if let Some(by_server) = figures.get("wt") {
        let ours = |m: &str| {
            figures
                .get(m)
                .and_then(|b| b.get(ServerKind::Ours.name()))
                .map(|v| median(v))
        };
        if let (Some(wt), Some(ws)) = (by_server.get(ServerKind::Ours.name()), ours("echo")) {
            println!(
                "ours webtransport/websocket echo={}",
                format_figure(median(wt) / ws)
            );
        }
    }
    if servers.contains(&ServerKind::Ours) {
        // The ratios of the medians, a line per peer; then the medians of the per-round ratios.
        let mut per_round = Vec::new();
        for &peer in servers.iter().filter(|&&s| s != ServerKind::Ours) {
            let mut line = format!("{}/ours", peer.name());
            let mut paired = format!("{}/ours per round:", peer.name());
            for (key, _, _) in MEASURES {
                let Some(by_server) = figures.get(key) else {
                    continue;
                };
                let (Some(ours), Some(theirs)) = (
                    by_server.get(ServerKind::Ours.name()),
                    by_server.get(peer.name()),
                ) else {
                    continue;
                };
                line.push_str(&format!(
                    " {key}={}",
                    format_figure(median(theirs) / median(ours))
                ));
                let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(o, t)| t / o).collect();
                let no_more = ratios.iter().filter(|r| **r >= 1.0).count();
                paired.push_str(&format!(
                    " {key}={} (ours <= {} in {no_more}/{})",
                    format_figure(median(&ratios)),
                    peer.name(),
                    ratios.len()
                ));
            }
            println!("{line}");
            per_round.push(paired);
        }
        for line in per_round {
            println!("{line}");
        }
    }
}

fn format_figure(v: f64) -> String {
    if !v.is_finite() {
        "-".to_owned()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The scale figure: as many WebSocket clients as the file limit allows, then a broadcast to all
/// of them and an idle phase that only heartbeats.
async fn scale(o: &Options) {
    let servers = o.servers();
    let pin = !o.has("no-pin");
    check_pinning(pin);
    let conns = o.num("conns", 19_900);
    let msgs = o.num("msgs", 10);
    let ping = Duration::from_millis(o.num("ping-interval", 2000));
    let idle_secs = o.num("idle-secs", 10);
    for &kind in &servers {
        load::build(kind).unwrap_or_else(|e| fail(&e));
    }
    for &kind in &servers {
        let server = start(kind, pin, Some(ping));
        let t = Target::of(&server);
        let name = kind.name();
        let rss0 = t.rss_kib();
        let cpu0 = t.cpu_ns();
        let started = Instant::now();
        // Each client reads from the moment it is connected: with a short ping interval, a client
        // that waited for the others to connect would miss its heartbeats and be dropped.
        let pings = Arc::new(AtomicU64::new(0));
        let delivered = Arc::new(AtomicU64::new(0));
        // connected, joined, failed to connect, dropped after joining
        let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
        let gate = Arc::new(tokio::sync::Semaphore::new(64));
        let readers: Vec<_> = (0..conns)
            .map(|_| {
                let (pings, delivered, counts, gate) = (
                    Arc::clone(&pings),
                    Arc::clone(&delivered),
                    Arc::clone(&counts),
                    Arc::clone(&gate),
                );
                tokio::spawn(async move {
                    let permit = gate.acquire_owned().await;
                    let mut c = match SioClient::connect(t.port, Transport::WebSocket).await {
                        Ok(c) => c,
                        Err(_) => {
                            counts[2].fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    };
                    c.count_pings_into(pings);
                    counts[0].fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                    let joined = async {
                        c.send(&[r#"42["join","bench"]"#, r#"42["echo","joined"]"#])
                            .await?;
                        wait_for(&mut c, r#"42["echo""#).await
                    };
                    if joined.await.is_err() {
                        return;
                    }
                    counts[1].fetch_add(1, Ordering::Relaxed);
                    loop {
                        match c.recv().await {
                            Ok(p) if p.starts_with(r#"42["bcast""#) => {
                                delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(_) => {
                                counts[3].fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        let settled = |counts: &[AtomicU64; 4]| {
            counts[0].load(Ordering::Relaxed) + counts[2].load(Ordering::Relaxed)
        };
        while settled(&counts) < conns {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let connect_secs = started.elapsed().as_secs_f64();
        let connect_cpu = t.cpu_ns().saturating_sub(cpu0);
        let n = counts[0].load(Ordering::Relaxed);
        let joined_by = Instant::now() + Duration::from_secs(30);
        while counts[1].load(Ordering::Relaxed) < n && Instant::now() < joined_by {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let joined = counts[1].load(Ordering::Relaxed);
        let rss1 = t.rss_kib();
        println!(
            "{name} scale connected={n} failed={} joined={joined} connect_secs={connect_secs:.1} connects_per_s={:.0} server_cpu_us_per_connect={:.1} rss_kib_before={rss0} rss_kib_with={rss1} kib_per_conn={:.2}",
            counts[2].load(Ordering::Relaxed),
            n as f64 / connect_secs,
            per(connect_cpu as f64 / 1000.0, n),
            per(rss1.saturating_sub(rss0) as f64, n)
        );
        let expected = joined * msgs;
        let mut sender = match SioClient::connect(t.port, Transport::WebSocket).await {
            Ok(s) => s,
            Err(e) => fail(&format!("{name}: broadcast sender: {e}")),
        };
        let frame = r#"42["bcast","xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]"#;
        let cpu0 = t.cpu_ns();
        let start = Instant::now();
        for _ in 0..msgs {
            let _ = sender.send(&[frame]).await;
        }
        let give_up = start + Duration::from_secs(120);
        while delivered.load(Ordering::Relaxed) < expected && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = t.cpu_ns().saturating_sub(cpu0);
        let got = delivered.load(Ordering::Relaxed);
        println!(
            "{name} scale bcast msgs={msgs} delivered={got} expected={expected} deliveries_per_s={:.0} server_cpu_ns_per_delivery={:.1}",
            got as f64 / elapsed,
            per(cpu as f64, got)
        );
        if kind.pings() {
            // Idle: the only work left is the heartbeat (one ping and one pong per client per
            // interval). The first heartbeats after the broadcast settle before the reading.
            tokio::time::sleep(ping).await;
            let (cpu0, pings0) = (t.cpu_ns(), pings.load(Ordering::Relaxed));
            let start = Instant::now();
            tokio::time::sleep(Duration::from_secs(idle_secs)).await;
            let cpu = t.cpu_ns().saturating_sub(cpu0);
            let secs = start.elapsed().as_secs_f64();
            let beats = pings.load(Ordering::Relaxed) - pings0;
            let ns_per_beat = per(cpu as f64, beats);
            println!(
                "{name} scale idle ping_interval_ms={} secs={secs:.1} clients_dropped={} heartbeats={beats} server_cpu_ns_per_heartbeat={ns_per_beat:.0} server_cpu_share={:.3} cpu_ms_per_round_at_1M={:.0} rss_kib={}",
                ping.as_millis(),
                counts[3].load(Ordering::Relaxed),
                cpu as f64 / 1e9 / secs,
                // 1 M heartbeats at `ns_per_beat` each, in ms: numerically ns_per_beat.
                ns_per_beat,
                t.rss_kib()
            );
        }
        for r in readers {
            r.abort();
        }
        drop(sender);
        drop(server);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let o = Options::parse(args);
    let target = || Target {
        port: o
            .named
            .get("port")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| fail("--port PORT is needed (127.0.0.1)")),
        pid: o.named.get("pid").and_then(|p| p.parse().ok()),
    };
    match mode.as_str() {
        "bench" => bench(&o).await,
        "scale" => scale(&o).await,
        "echo" => {
            let bytes = o.num("bytes", 32) as usize;
            echo(target(), o.transport(), o.num("conns", 50), o.num("secs", 5), bytes).await;
        }
        "bcast" => {
            let bytes = o.num("bytes", 32) as usize;
            bcast(target(), o.transport(), o.num("conns", 1000), o.num("msgs", 300), bytes).await;
        }
        "idle" => {
            idle(target(), o.num("conns", 5000), Duration::from_secs(o.num("hold", 2))).await;
        }
        "churn" => {
            let parallel = o.num("parallel", 8) as usize;
            churn(target(), o.transport(), o.num("conns", 2000), parallel).await;
        }
        "cluster-poll" | "cluster-ws" => {
            let list = |key: &str| -> Vec<String> {
                o.named
                    .get(key)
                    .map(|v| v.split(',').map(str::to_owned).collect())
                    .unwrap_or_default()
            };
            fn num<T: std::str::FromStr>(v: &String) -> T {
                v.parse()
                    .unwrap_or_else(|_| fail(&format!("{v}: not a number")))
            }
            let ports: Vec<u16> = list("ports").iter().map(num).collect();
            let pids: Vec<u32> = list("pids").iter().map(num).collect();
            let bytes = o.num("bytes", 32) as usize;
            let (conns, secs) = (o.num("conns", 48), o.num("secs", 5));
            if mode == "cluster-ws" {
                let delay = Duration::from_millis(o.num("delay-ms", 500));
                cluster_ws(&ports, &pids, conns, secs, bytes, delay).await;
            } else {
                let kinds: Vec<bool> = match list("requests") {
                    k if k.is_empty() => vec![false, true],
                    k => k
                        .iter()
                        .map(|k| match k.as_str() {
                            "local" => false,
                            "foreign" => true,
                            _ => fail(&format!("--requests {k}: local or foreign")),
                        })
                        .collect(),
                };
                cluster_poll(&ports, &pids, conns, secs, bytes, &kinds).await;
            }
        }
        "soak" => {
            if !soak(target(), o.num("secs", 60), o.num("conns", 64)).await {
                std::process::exit(1);
            }
        }
        _ => fail("usage: sioload bench|scale|echo|bcast|idle|churn|soak|cluster-poll|cluster-ws [options] (see the source's header)"),
    }
}
