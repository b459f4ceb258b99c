//! `siocat`: a command-line Socket.IO client, like `wscat` for Socket.IO.
//!
//! ```text
//! siocat URL [--namespace /ns] [--auth JSON] [--header 'K: V']... [--transport polling|websocket|upgrade]
//!            [--emit EVENT JSON]... [--ack] [--ack-timeout MS] [--msgpack] [--path /socket.io]
//!            [--wait MS] [--reconnect] [--insecure]
//! ```
//!
//! Every event received is printed as one JSON line `["event", arg, ...]` (binary arguments are
//! printed as `{"_binary": "<base64>"}`); every JSON line `["event", arg, ...]` read from stdin is
//! emitted. With `--ack`, each emit asks for an acknowledgement and its reply is printed as
//! `{"ack": [...]}` (or `{"ack_error": "..."}`). Status messages go to stderr; when the first
//! connection fails, `siocat` prints why and exits with status 1.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value as Json;
use socketio_client::{ClientBuilder, Event, Parser, Socket, Transports, Value};
use tokio::io::AsyncBufReadExt as _;

const USAGE: &str = "\
usage: siocat URL [options]

Connects to a Socket.IO server, prints every received event as a JSON line
[\"event\", arg, ...], and emits every JSON line [\"event\", arg, ...] read from stdin.

options:
  -n, --namespace NSP      namespace to join (default /)
  -a, --auth JSON          auth payload sent with CONNECT (a JSON object)
  -H, --header 'K: V'      extra HTTP header for every request (repeatable)
  -t, --transport T        polling | websocket | upgrade (default upgrade)
  -e, --emit EVENT JSON    emit EVENT with the JSON argument once connected (repeatable)
      --ack                ask for an ack on each emit and print it as {\"ack\": [...]}
      --ack-timeout MS     how long to wait for each ack (default 10000)
      --msgpack            use the msgpack parser (socket.io-msgpack-parser)
      --path PATH          server path (default /socket.io)
      --wait MS            after stdin ends, keep printing events for MS milliseconds
      --reconnect          reconnect when the connection is lost (default: exit)
      --insecure           accept invalid TLS certificates (testing only)
  -h, --help               print this help
  -V, --version            print the version
";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    url: String,
    namespace: String,
    auth: Option<Json>,
    headers: Vec<(String, String)>,
    transport: Transports,
    emits: Vec<(String, Json)>,
    ack: bool,
    ack_timeout: Duration,
    msgpack: bool,
    path: Option<String>,
    wait: Duration,
    reconnect: bool,
    insecure: bool,
}

/// The outcome of parsing the command line.
#[derive(Debug, PartialEq)]
enum Command {
    Run(Box<Options>),
    Help,
    Version,
}

fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut it = args.into_iter().collect::<Vec<_>>().into_iter();
    let mut url = None;
    let mut out = Options {
        url: String::new(),
        namespace: "/".to_owned(),
        auth: None,
        headers: Vec::new(),
        transport: Transports::Upgrade,
        emits: Vec::new(),
        ack: false,
        ack_timeout: Duration::from_millis(10_000),
        msgpack: false,
        path: None,
        wait: Duration::ZERO,
        reconnect: false,
        insecure: false,
    };
    fn value(it: &mut std::vec::IntoIter<String>, flag: &str) -> Result<String, String> {
        it.next().ok_or_else(|| format!("{flag} needs a value"))
    }
    fn millis(s: &str, flag: &str) -> Result<Duration, String> {
        s.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("{flag}: not a number of milliseconds: {s}"))
    }
    while let Some(arg) = it.next() {
        // `--flag=value` is accepted as well as `--flag value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let take = |it: &mut std::vec::IntoIter<String>| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => value(it, &flag),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-n" | "--namespace" => {
                let ns = take(&mut it)?;
                out.namespace = if ns.starts_with('/') {
                    ns
                } else {
                    format!("/{ns}")
                };
            }
            "-a" | "--auth" => {
                let raw = take(&mut it)?;
                let json: Json =
                    serde_json::from_str(&raw).map_err(|e| format!("--auth: invalid JSON: {e}"))?;
                if !json.is_object() {
                    return Err("--auth: the auth payload must be a JSON object".to_owned());
                }
                out.auth = Some(json);
            }
            "-H" | "--header" => {
                let raw = take(&mut it)?;
                let (k, v) = raw
                    .split_once(':')
                    .ok_or_else(|| format!("--header: expected 'Name: value', got {raw:?}"))?;
                let k = k.trim();
                if k.is_empty() {
                    return Err(format!("--header: empty header name in {raw:?}"));
                }
                out.headers.push((k.to_owned(), v.trim().to_owned()));
            }
            "-t" | "--transport" => {
                let raw = take(&mut it)?;
                out.transport = match raw.as_str() {
                    "polling" => Transports::Polling,
                    "websocket" => Transports::WebSocket,
                    "upgrade" => Transports::Upgrade,
                    other => {
                        return Err(format!(
                            "--transport: expected polling, websocket or upgrade, got {other:?}"
                        ))
                    }
                };
            }
            "-e" | "--emit" => {
                let event = take(&mut it)?;
                let raw = value(&mut it, "--emit EVENT")?;
                let json: Json = serde_json::from_str(&raw)
                    .map_err(|e| format!("--emit {event}: invalid JSON argument: {e}"))?;
                out.emits.push((event, json));
            }
            "--ack" => out.ack = true,
            "--ack-timeout" => out.ack_timeout = millis(&take(&mut it)?, "--ack-timeout")?,
            "--msgpack" => out.msgpack = true,
            "--path" => out.path = Some(take(&mut it)?),
            "--wait" => out.wait = millis(&take(&mut it)?, "--wait")?,
            "--reconnect" => out.reconnect = true,
            "--insecure" => out.insecure = true,
            _ if flag.starts_with('-') && flag.len() > 1 => {
                return Err(format!("unknown option {flag}"))
            }
            _ => {
                if url.is_some() {
                    return Err(format!("unexpected argument {arg:?} (URL already given)"));
                }
                url = Some(arg);
            }
        }
    }
    out.url = url.ok_or_else(|| "missing URL".to_owned())?;
    Ok(Command::Run(Box::new(out)))
}

/// Parses one stdin line `["event", arg, ...]`.
fn parse_line(line: &str) -> Result<(String, Vec<Json>), String> {
    let json: Json = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Json::Array(mut items) = json else {
        return Err("expected a JSON array [\"event\", arg, ...]".to_owned());
    };
    if items.is_empty() {
        return Err("expected a JSON array [\"event\", arg, ...], got []".to_owned());
    }
    let Json::String(event) = items.remove(0) else {
        return Err("the first element must be the event name (a string)".to_owned());
    };
    Ok((event, items))
}

/// Renders socket.io values as plain JSON for printing (binary as `{"_binary": base64}`).
fn to_json(v: &Value) -> Json {
    use base64::Engine as _;
    match v {
        Value::Binary(bytes) => serde_json::json!({
            "_binary": base64::engine::general_purpose::STANDARD.encode(bytes)
        }),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Object(map) => {
            Json::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        other => Json::from(other.clone()),
    }
}

fn print_line(json: &Json) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `siocat … | head -1`) is not worth a panic.
    let _ = writeln!(out, "{json}");
    let _ = out.flush();
}

fn main() -> ExitCode {
    let cmd = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("siocat: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let args = match cmd {
        Command::Help => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("siocat {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Run(args) => args,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("siocat: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(*args));
    // The stdin reader is a blocking thread that may be stuck in `read`: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("siocat: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Options) -> Result<(), String> {
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut builder = ClientBuilder::new(args.url.as_str())
        .namespace(args.namespace.as_str())
        .transport(args.transport)
        .reconnection(args.reconnect)
        .parser(if args.msgpack {
            Parser::MsgPack
        } else {
            Parser::Json
        })
        .accept_invalid_certs(args.insecure)
        .on_any(|event: Event, _socket: Socket| async move {
            let mut line = vec![Json::String(event.name().to_owned())];
            line.extend(event.args().iter().map(to_json));
            print_line(&Json::Array(line));
        })
        .on_disconnect(move |_socket, reason| {
            let _ = closed_tx.send(reason.to_string());
            async {}
        });
    if let Some(path) = &args.path {
        builder = builder.path(path.as_str());
    }
    if let Some(auth) = &args.auth {
        builder = builder.auth(auth.clone());
    }
    for (k, v) in &args.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let socket = builder
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", args.url))?;
    eprintln!(
        "siocat: connected to {} (namespace {}, id {})",
        args.url,
        args.namespace,
        socket.id().unwrap_or_default()
    );

    let mut pending = tokio::task::JoinSet::new();
    let emit = |event: String, payload: Vec<Json>, pending: &mut tokio::task::JoinSet<()>| {
        let socket = socket.clone();
        let want_ack = args.ack;
        let timeout = args.ack_timeout;
        pending.spawn(async move {
            let values = socketio_client::Args::from(
                payload.into_iter().map(Value::from).collect::<Vec<_>>(),
            );
            if want_ack {
                let answer = match socket.emit_with_ack(event.as_str(), values) {
                    Ok(pending) => pending.timeout(timeout).await,
                    Err(e) => Err(e),
                };
                match answer {
                    Ok(socketio_client::Args(reply)) => {
                        let reply: Vec<Json> = reply.iter().map(to_json).collect();
                        print_line(&serde_json::json!({ "ack": reply }));
                    }
                    Err(e) => print_line(&serde_json::json!({ "ack_error": e.to_string() })),
                }
            } else if let Err(e) = socket.emit(event.as_str(), values) {
                eprintln!("siocat: emit {event}: {e}");
            }
        });
    };
    for (event, json) in args.emits.clone() {
        emit(event, vec![json], &mut pending);
    }

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let outcome = loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    match parse_line(line) {
                        Ok((event, payload)) => emit(event, payload, &mut pending),
                        Err(e) => eprintln!("siocat: ignoring stdin line: {e}"),
                    }
                }
                Ok(None) | Err(_) => {
                    // Let outstanding acks arrive, then linger for --wait.
                    while pending.join_next().await.is_some() {}
                    tokio::select! {
                        _ = tokio::time::sleep(args.wait) => break Ok(()),
                        reason = closed_rx.recv() => break closed(reason, &args),
                    }
                }
            },
            Some(_) = pending.join_next(), if !pending.is_empty() => {}
            reason = closed_rx.recv() => {
                if args.reconnect && reason.as_deref() != Some("io server disconnect") {
                    eprintln!("siocat: disconnected ({}), reconnecting", reason.unwrap_or_default());
                    continue;
                }
                break closed(reason, &args);
            }
        }
    };
    socket.disconnect().await;
    outcome
}

fn closed(reason: Option<String>, args: &Options) -> Result<(), String> {
    let reason = reason.unwrap_or_else(|| "client dropped".to_owned());
    eprintln!("siocat: disconnected from {}: {reason}", args.url);
    if reason == "io server disconnect" {
        Ok(())
    } else {
        Err(format!("connection lost: {reason}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Command, String> {
        parse_args(v.iter().map(|s| (*s).to_owned()))
    }

    fn run_args(v: &[&str]) -> Options {
        match parse(v) {
            Ok(Command::Run(a)) => *a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn minimal() {
        let a = run_args(&["http://localhost:3000"]);
        assert_eq!(a.url, "http://localhost:3000");
        assert_eq!(a.namespace, "/");
        assert_eq!(a.transport, Transports::Upgrade);
        assert!(a.emits.is_empty() && !a.ack && a.auth.is_none());
    }

    #[test]
    fn all_options() {
        let a = run_args(&[
            "--namespace",
            "admin",
            "http://h:1",
            "--auth",
            r#"{"token":"x"}"#,
            "-H",
            "X-A: 1",
            "--header=Cookie: a=b",
            "--transport",
            "websocket",
            "--emit",
            "hello",
            r#"{"a":[1,2]}"#,
            "-e",
            "two",
            "2",
            "--ack",
            "--ack-timeout=500",
            "--msgpack",
            "--path",
            "/io",
            "--wait",
            "100",
            "--reconnect",
            "--insecure",
        ]);
        assert_eq!(a.namespace, "/admin");
        assert_eq!(a.url, "http://h:1");
        assert_eq!(a.auth, Some(serde_json::json!({"token": "x"})));
        assert_eq!(
            a.headers,
            vec![
                ("X-A".to_owned(), "1".to_owned()),
                ("Cookie".to_owned(), "a=b".to_owned())
            ]
        );
        assert_eq!(a.transport, Transports::WebSocket);
        assert_eq!(
            a.emits,
            vec![
                ("hello".to_owned(), serde_json::json!({"a": [1, 2]})),
                ("two".to_owned(), serde_json::json!(2))
            ]
        );
        assert!(a.ack && a.msgpack && a.reconnect && a.insecure);
        assert_eq!(a.ack_timeout, Duration::from_millis(500));
        assert_eq!(a.path.as_deref(), Some("/io"));
        assert_eq!(a.wait, Duration::from_millis(100));
    }

    #[test]
    fn errors() {
        assert!(parse(&[]).unwrap_err().contains("missing URL"));
        assert!(parse(&["u", "--transport", "carrier-pigeon"]).is_err());
        assert!(parse(&["u", "--auth", "[1]"])
            .unwrap_err()
            .contains("object"));
        assert!(parse(&["u", "--auth", "{"])
            .unwrap_err()
            .contains("invalid JSON"));
        assert!(parse(&["u", "--header", "nocolon"]).is_err());
        assert!(parse(&["u", "--emit", "ev"]).is_err());
        assert!(parse(&["u", "--emit", "ev", "{bad"]).is_err());
        assert!(parse(&["u", "--bogus"])
            .unwrap_err()
            .contains("unknown option"));
        assert!(parse(&["u", "v"]).unwrap_err().contains("unexpected"));
        assert!(parse(&["u", "--wait", "soon"]).is_err());
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["u", "-V"]), Ok(Command::Version));
    }

    #[test]
    fn stdin_lines() {
        assert_eq!(
            parse_line(r#"["ev", 1, {"a": null}]"#),
            Ok((
                "ev".to_owned(),
                vec![serde_json::json!(1), serde_json::json!({"a": null})]
            ))
        );
        assert!(parse_line("[]").is_err());
        assert!(parse_line("[1]").is_err());
        assert!(parse_line("{}").is_err());
        assert!(parse_line("nope").is_err());
    }
}
