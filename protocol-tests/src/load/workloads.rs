//! The measures of `sioload` (`src/bin/sioload.rs`), each against one running server: memory
//! per idle connection, echo round trips, broadcasts, connection churn and the soak run.
#![allow(clippy::print_stdout)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::{BenchServer, LoadError, SioClient, Transport};

/// Prints `sioload: <message>` and exits with status 2 (a usage or setup error).
pub fn fail(message: &str) -> ! {
    eprintln!("sioload: {message}");
    std::process::exit(2)
}

/// The process measured by a single mode: CPU time and memory, if a pid is known.
#[derive(Clone, Copy)]
pub struct Target {
    /// The port the server listens on (127.0.0.1).
    pub port: u16,
    /// The server's pid, when known.
    pub pid: Option<u32>,
}

impl Target {
    /// The server's CPU time so far, in ns (0 without a pid).
    pub fn cpu_ns(self) -> u64 {
        self.pid.and_then(super::cpu_ns).unwrap_or(0)
    }

    /// The server's resident memory, in KiB (0 without a pid).
    pub fn rss_kib(self) -> u64 {
        self.pid.and_then(super::rss_kib).unwrap_or(0)
    }

    /// Waits until the server is quiet: its CPU time grows by under 1 ms in 50 ms (at most 5 s).
    /// The clients of a measure close when it ends, and a server may still be closing thousands
    /// of sessions then: that work belongs to no measure, so the next one starts after it.
    pub async fn settle(self) {
        if self.pid.is_none() {
            return;
        }
        let give_up = Instant::now() + Duration::from_secs(5);
        let mut last = self.cpu_ns();
        while Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.cpu_ns();
            if now.saturating_sub(last) < 1_000_000 {
                return;
            }
            last = now;
        }
    }

    /// The server started by `bench` or `scale`.
    pub fn of(server: &BenchServer) -> Target {
        Target {
            port: server.port(),
            pid: Some(server.pid()),
        }
    }
}

/// The transport's name on the command line and in the output.
pub fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::WebSocket => "websocket",
        Transport::Polling => "polling",
        Transport::WebTransport { .. } => "webtransport",
    }
}

/// Connects `n` clients, `parallel` handshakes in flight; failures are counted, not fatal.
pub async fn connect_many(
    port: u16,
    transport: Transport,
    n: u64,
    parallel: usize,
) -> (Vec<SioClient>, u64) {
    let results: Vec<Result<SioClient, LoadError>> = futures_util::stream::iter(0..n)
        .map(|_| SioClient::connect(port, transport))
        .buffer_unordered(parallel)
        .collect()
        .await;
    let mut clients = Vec::with_capacity(results.len());
    let mut failed = 0;
    for r in results {
        match r {
            Ok(c) => clients.push(c),
            Err(e) => {
                if failed == 0 {
                    eprintln!("sioload: connect failed: {e}");
                }
                failed += 1;
            }
        }
    }
    (clients, failed)
}

/// Reads until a packet that starts with `prefix`.
pub async fn wait_for(client: &mut SioClient, prefix: &str) -> Result<String, LoadError> {
    loop {
        let packet = client.recv().await?;
        if packet.starts_with(prefix) {
            return Ok(packet);
        }
    }
}

/// Every client joins room `bench`; an echo after the join proves the server handled it (a
/// server handles one socket's packets in order).
pub async fn join_all(clients: Vec<SioClient>) -> Vec<SioClient> {
    futures_util::stream::iter(clients)
        .map(|mut c| async move {
            c.send(&[r#"42["join","bench"]"#, r#"42["echo","joined"]"#])
                .await?;
            wait_for(&mut c, r#"42["echo""#).await?;
            Ok::<_, LoadError>(c)
        })
        .buffer_unordered(256)
        .filter_map(|r| async move { r.map_err(|e| eprintln!("sioload: join failed: {e}")).ok() })
        .collect()
        .await
}

/// `total / count`, NaN when `count` is 0.
pub fn per(total: f64, count: u64) -> f64 {
    if count == 0 {
        f64::NAN
    } else {
        total / count as f64
    }
}

/// Memory per idle connection: RSS before and with `conns` WebSocket clients. Returns KiB/conn.
pub async fn idle(t: Target, conns: u64, hold: Duration) -> f64 {
    let before = t.rss_kib();
    let (clients, failed) = connect_many(t.port, Transport::WebSocket, conns, 32).await;
    tokio::time::sleep(hold).await;
    let with = t.rss_kib();
    let n = clients.len() as u64;
    let kb = per(with.saturating_sub(before) as f64, n);
    println!(
        "idle connected={n} failed={failed} rss_kib_before={before} rss_kib_with={with} kib_per_conn={kb:.2}"
    );
    drop(clients);
    kb
}

/// Closed-loop round trips: each client sends `echo` and waits for the answer. Returns the
/// server's CPU µs per round trip.
pub async fn echo(t: Target, transport: Transport, conns: u64, secs: u64, bytes: usize) -> f64 {
    let (clients, failed) = connect_many(t.port, transport, conns, 16).await;
    let cpu0 = t.cpu_ns();
    let (run, clients) = echo_rounds(clients, bytes, secs).await;
    let cpu = t.cpu_ns().saturating_sub(cpu0);
    drop(clients);
    let us = per(cpu as f64 / 1000.0, run.total);
    println!(
        "echo transport={} conns={conns} failed={failed} bytes={bytes} total={} rtt_per_s={:.0} p50_us={} p99_us={} server_cpu_us_per_rtt={us:.2}",
        transport_name(transport),
        run.total,
        run.per_second(),
        run.quantile(0.5),
        run.quantile(0.99)
    );
    us
}

/// What [`echo_rounds`] measured.
pub struct EchoRun {
    /// Round trips completed.
    pub total: u64,
    /// Their latencies in µs, sorted.
    pub latencies: Vec<u64>,
    /// Wall time, in seconds.
    pub elapsed: f64,
}

impl EchoRun {
    /// Round trips per second.
    pub fn per_second(&self) -> f64 {
        self.total as f64 / self.elapsed
    }

    /// The latency at quantile `f` (0.5: the median), in µs.
    pub fn quantile(&self, f: f64) -> u64 {
        let l = &self.latencies;
        l.get(((l.len() as f64 * f) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    }
}

/// Every client sends `echo` and waits for the answer, again and again for `secs`. Returns the
/// clients too, still open, so that the caller reads the CPU time before their closes.
pub async fn echo_rounds(
    clients: Vec<SioClient>,
    bytes: usize,
    secs: u64,
) -> (EchoRun, Vec<SioClient>) {
    let frame = format!(r#"42["echo","{}"]"#, "x".repeat(bytes));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            let (frame, count) = (frame.clone(), Arc::clone(&count));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    if c.send(&[&frame]).await.is_err()
                        || wait_for(&mut c, r#"42["echo""#).await.is_err()
                    {
                        break;
                    }
                    latencies.push(sent.elapsed().as_micros() as u64);
                    count.fetch_add(1, Ordering::Relaxed);
                }
                (latencies, c)
            })
        })
        .collect();
    let (mut latencies, mut open) = (Vec::new(), Vec::with_capacity(tasks.len()));
    for task in tasks {
        if let Ok((l, c)) = task.await {
            latencies.extend(l);
            open.push(c);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let run = EchoRun {
        total: count.load(Ordering::Relaxed),
        latencies,
        elapsed,
    };
    (run, open)
}

/// The cluster engine's cost: polling echo round trips against the nodes on `ports` (a cluster
/// with `--cluster-engine`), first with every request of a session on the node that owns it
/// (local), then with every request on the next node (foreign: each GET and POST crosses Redis
/// to the owner). CPU is the sum over `pids` (the nodes and redis-server). Prints one line per
/// phase and the ratios.
pub async fn cluster_poll(
    ports: &[u16],
    pids: &[u32],
    conns: u64,
    secs: u64,
    bytes: usize,
    kinds: &[bool],
) {
    if ports.len() < 2 {
        fail("cluster-poll needs at least 2 --ports");
    }
    let mut results = Vec::new();
    for &foreign in kinds {
        let mut clients = Vec::new();
        let mut failed = 0;
        for (i, &port) in ports.iter().enumerate() {
            let n = conns / ports.len() as u64 + u64::from((i as u64) < conns % ports.len() as u64);
            let (mut cs, f) = connect_many(port, Transport::Polling, n, 16).await;
            failed += f;
            if foreign {
                let next = ports[(i + 1) % ports.len()];
                for c in &mut cs {
                    if let Err(e) = c.repoint_polling(next).await {
                        fail(&format!("cannot reach node {next}: {e}"));
                    }
                }
            }
            clients.extend(cs);
        }
        let (run, cpu_us, split) = measured(pids, clients, bytes, secs).await;
        let kind = if foreign { "foreign" } else { "local" };
        report_cluster_run(
            &format!("cluster-poll requests={kind}"),
            conns,
            failed,
            &run,
            cpu_us,
            &split,
        );
        results.push((run, cpu_us));
    }
    if let [local, foreign] = &results[..] {
        ratios("cluster-poll foreign/local", local, foreign);
    }
}

/// Proxied WebSockets against direct ones on a cluster (nodes with `--cluster-engine`): echo
/// round trips over WebSockets opened directly on each node, then over polling sessions opened
/// on a node and upgraded, after `delay` (past the connect delay: no takeover), on the next node,
/// which relays the WebSocket's bytes to the owner through Redis. CPU is the sum over `pids`.
pub async fn cluster_ws(
    ports: &[u16],
    pids: &[u32],
    conns: u64,
    secs: u64,
    bytes: usize,
    delay: Duration,
) {
    if ports.len() < 2 {
        fail("cluster-ws needs at least 2 --ports");
    }
    let mut results = Vec::new();
    for proxied in [false, true] {
        let mut clients = Vec::new();
        let mut failed = 0;
        for (i, &port) in ports.iter().enumerate() {
            let n = conns / ports.len() as u64 + u64::from((i as u64) < conns % ports.len() as u64);
            let transport = if proxied {
                Transport::Polling
            } else {
                Transport::WebSocket
            };
            let (cs, f) = connect_many(port, transport, n, 16).await;
            failed += f;
            clients.push((ports[(i + 1) % ports.len()], cs));
        }
        if proxied {
            tokio::time::sleep(delay).await;
        }
        let mut all = Vec::new();
        for (next, cs) in clients {
            for mut c in cs {
                if proxied {
                    if let Err(e) = c.upgrade_websocket(next).await {
                        fail(&format!("upgrade on node {next}: {e}"));
                    }
                }
                all.push(c);
            }
        }
        let (run, cpu_us, split) = measured(pids, all, bytes, secs).await;
        let kind = if proxied { "proxied" } else { "direct" };
        report_cluster_run(
            &format!("cluster-ws websocket={kind}"),
            conns,
            failed,
            &run,
            cpu_us,
            &split,
        );
        results.push((run, cpu_us));
    }
    ratios("cluster-ws proxied/direct", &results[0], &results[1]);
}

/// Prints one measured cluster run as one line, `head` first (the mode and what it measured).
fn report_cluster_run(
    head: &str,
    conns: u64,
    failed: u64,
    run: &EchoRun,
    cpu_us: f64,
    split: &str,
) {
    println!(
        "{head} conns={conns} failed={failed} total={} rtt_per_s={:.0} p50_us={} p99_us={} cluster_cpu_us_per_rtt={cpu_us:.2} per_pid_us=[{split}]",
        run.total,
        run.per_second(),
        run.quantile(0.5),
        run.quantile(0.99),
    );
}

/// Prints `label: ` and what `other` costs against `base` (each a run and its CPU µs per round
/// trip): CPU and throughput ratios, added p50 and p99 latency.
fn ratios(label: &str, base: &(EchoRun, f64), other: &(EchoRun, f64)) {
    println!(
        "{label}: cpu_per_rtt={:.2} rtt_per_s={:.2} added_p50_us={} added_p99_us={}",
        other.1 / base.1,
        other.0.per_second() / base.0.per_second(),
        other.0.quantile(0.5) as i64 - base.0.quantile(0.5) as i64,
        other.0.quantile(0.99) as i64 - base.0.quantile(0.99) as i64,
    );
}

/// Echo rounds of `clients` with the CPU of `pids` around them: the run, the CPU µs per round
/// trip summed over the pids, and each pid's share (µs per round trip, in `pids` order).
async fn measured(
    pids: &[u32],
    clients: Vec<SioClient>,
    bytes: usize,
    secs: u64,
) -> (EchoRun, f64, String) {
    let each = || -> Vec<u64> {
        pids.iter()
            .map(|p| super::cpu_ns(*p).unwrap_or(0))
            .collect()
    };
    let before = each();
    let (run, clients) = echo_rounds(clients, bytes, secs).await;
    let after = each();
    drop(clients);
    let total: u64 = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.saturating_sub(*b))
        .sum();
    let cpu_us = per(total as f64 / 1000.0, run.total);
    let split: Vec<String> = after
        .iter()
        .zip(&before)
        .map(|(a, b)| {
            format!(
                "{:.1}",
                per(a.saturating_sub(*b) as f64 / 1000.0, run.total)
            )
        })
        .collect();
    (run, cpu_us, split.join(","))
}

/// `conns` receivers in room `bench`, one sender sends `msgs` broadcasts. Returns the server's
/// CPU ns per delivery, and prints how many were delivered.
pub async fn bcast(t: Target, transport: Transport, conns: u64, msgs: u64, bytes: usize) -> f64 {
    let (clients, failed) = connect_many(t.port, transport, conns, 32).await;
    let receivers = join_all(clients).await;
    let mut sender = match SioClient::connect(t.port, Transport::WebSocket).await {
        Ok(s) => s,
        Err(e) => fail(&format!("broadcast sender: {e}")),
    };
    let expected = receivers.len() as u64 * msgs;
    let delivered = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = receivers
        .into_iter()
        .map(|mut c| {
            let delivered = Arc::clone(&delivered);
            tokio::spawn(async move {
                let mut got = 0;
                while got < msgs {
                    // A receiver that got nothing for 10 s has lost the rest.
                    match tokio::time::timeout(Duration::from_secs(10), c.recv()).await {
                        Ok(Ok(p)) if p.starts_with(r#"42["bcast""#) => {
                            got += 1;
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Ok(_)) => {}
                        _ => break,
                    }
                }
                // Kept open until the CPU is read: its close is not part of the broadcast.
                c
            })
        })
        .collect();
    let frame = format!(r#"42["bcast","{}"]"#, "x".repeat(bytes));
    let cpu0 = t.cpu_ns();
    let start = Instant::now();
    for _ in 0..msgs {
        if let Err(e) = sender.send(&[&frame]).await {
            eprintln!("sioload: broadcast sender: {e}");
            break;
        }
    }
    let mut open = Vec::with_capacity(tasks.len());
    for task in tasks {
        open.extend(task.await.ok());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = t.cpu_ns().saturating_sub(cpu0);
    drop((open, sender));
    let got = delivered.load(Ordering::Relaxed);
    let ns = per(cpu as f64, got);
    println!(
        "bcast transport={} conns={conns} failed={failed} msgs={msgs} bytes={bytes} delivered={got} expected={expected} deliveries_per_s={:.0} server_cpu_ns_per_delivery={ns:.1}",
        transport_name(transport),
        got as f64 / elapsed
    );
    ns
}

/// Connect churn: `conns` clients connect (Engine.IO open and Socket.IO connect) and close, with
/// `parallel` in flight. Returns the server's CPU µs per connect (its close included).
pub async fn churn(t: Target, transport: Transport, conns: u64, parallel: usize) -> f64 {
    let cpu0 = t.cpu_ns();
    let start = Instant::now();
    let failed = Arc::new(AtomicU64::new(0));
    futures_util::stream::iter(0..conns)
        .for_each_concurrent(parallel, |_| {
            let failed = Arc::clone(&failed);
            async move {
                match SioClient::connect(t.port, transport).await {
                    Ok(c) => c.close().await,
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    // Let the server finish the closes it was told about.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu = t.cpu_ns().saturating_sub(cpu0);
    let failed = failed.load(Ordering::Relaxed);
    let ok = conns - failed;
    let us = per(cpu as f64 / 1000.0, ok);
    println!(
        "churn transport={} total={ok} failed={failed} connects_per_s={:.0} server_cpu_us_per_connect={us:.1}",
        transport_name(transport),
        ok as f64 / elapsed
    );
    us
}

/// Soak: for `secs`, `conns` workers (half WebSocket, half polling) connect, send numbered echoes
/// and check each comes back once and in order, then close or vanish at random. Prints the
/// server's RSS every 5 s; exits 1 on any lost, duplicated or reordered echo.
pub async fn soak(t: Target, secs: u64, conns: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let stats: Arc<[AtomicU64; 4]> = Arc::new(Default::default()); // sessions, echoes, errors, bad
    let workers: Vec<_> = (0..conns)
        .map(|w| {
            let stats = Arc::clone(&stats);
            tokio::spawn(async move {
                let transport = if w % 2 == 0 {
                    Transport::WebSocket
                } else {
                    Transport::Polling
                };
                let mut round = 0u64;
                while Instant::now() < deadline {
                    round += 1;
                    let Ok(mut c) = SioClient::connect(t.port, transport).await else {
                        stats[2].fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    stats[0].fetch_add(1, Ordering::Relaxed);
                    for seq in 0..(5 + (w + round) % 20) {
                        let tag = format!("{w}:{round}:{seq}");
                        if c.send(&[&format!(r#"42["echo","{tag}"]"#)]).await.is_err() {
                            stats[2].fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        match wait_for(&mut c, r#"42["echo""#).await {
                            Ok(p) if p == format!(r#"42["echo","{tag}"]"#) => {
                                stats[1].fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(p) => {
                                eprintln!("sioload: soak: expected {tag}, got {p:.80}");
                                stats[3].fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => {
                                stats[2].fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                    if (w + round) % 3 == 0 {
                        c.kill();
                    } else {
                        c.close().await;
                    }
                }
            })
        })
        .collect();
    let start = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5).min(deadline - Instant::now())).await;
        println!(
            "soak t={:.0}s sessions={} echoes={} rss_kib={}",
            start.elapsed().as_secs_f64(),
            stats[0].load(Ordering::Relaxed),
            stats[1].load(Ordering::Relaxed),
            t.rss_kib()
        );
    }
    for w in workers {
        let _ = w.await;
    }
    let bad = stats[3].load(Ordering::Relaxed);
    println!(
        "soak secs={secs} workers={conns} sessions={} echoes={} transport_errors={} wrong_echoes={bad} rss_kib_end={}",
        stats[0].load(Ordering::Relaxed),
        stats[1].load(Ordering::Relaxed),
        stats[2].load(Ordering::Relaxed),
        t.rss_kib()
    );
    bad == 0
}
