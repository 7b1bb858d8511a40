//! A loopback TCP game server on tokio, feeding veltrix from async tasks.
//!
//! The server listens on 127.0.0.1 (an ephemeral port) and a bounded set of
//! simulated clients connect and send player inputs (16 bytes each: player,
//! sequence, movement). Each connection task publishes every input with
//! `Topic::publish_async` into a keyed topic "inputs" whose partitions hold
//! only 64 events, so producers really wait for room — as tasks, without
//! blocking an executor thread. Two groups read the topic:
//!
//! * "physics", on 2 worker threads, moves each player and checks that its
//!   inputs arrive in order;
//! * "tick", a poll-mode group driven by a tick task with
//!   `Poller::poll_async`, which sleeps until inputs arrive.
//!
//! When the clients are done it shuts the engine down and checks the books:
//! nothing lost, duplicated or reordered, every player where its inputs put
//! it, the conservation equation. It ends with a line beginning `TOKIO OK`
//! (exit 0), or says what failed (exit 1).
//!
//! ```text
//! cargo run --release --features async --example tokio_server -- [--clients N] [--inputs N]
//! ```

use std::collections::HashMap;
use std::error::Error;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use veltrix::partitioner::by_key;
use veltrix::{Engine, EventContext, GroupOptions, Listener, ListenerError, Topic, TopicOptions};

/// One player input as it travels: on the wire and through the topic.
#[derive(Debug, Clone, Copy)]
struct Input {
    player: u32,
    /// 0, 1, 2, … per player, in the order the client sent them.
    seq: u32,
    dx: i64,
}

const WIRE: usize = 16;

impl Input {
    fn encode(&self) -> [u8; WIRE] {
        let mut out = [0; WIRE];
        out[..4].copy_from_slice(&self.player.to_le_bytes());
        out[4..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8..].copy_from_slice(&self.dx.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8; WIRE]) -> Input {
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let mut dx = [0; 8];
        dx.copy_from_slice(&bytes[8..]);
        Input {
            player: word(0),
            seq: word(4),
            dx: i64::from_le_bytes(dx),
        }
    }
}

/// Where each player ended up, and how many inputs came out of order.
#[derive(Debug, Default)]
struct World {
    position: HashMap<u32, i64>,
    violations: u64,
}

/// One physics worker: its players' state (a player's inputs all reach
/// the worker of its partition), merged into the shared world at shutdown.
struct Physics {
    next_seq: HashMap<u32, u32>,
    local: World,
    world: Arc<Mutex<World>>,
}

impl Listener<Input> for Physics {
    fn on_event(&mut self, input: &Input, _ctx: &EventContext<'_>) -> Result<(), ListenerError> {
        let next = self.next_seq.entry(input.player).or_insert(0);
        if input.seq != *next {
            self.local.violations += 1;
        }
        *next = input.seq + 1;
        *self.local.position.entry(input.player).or_insert(0) += input.dx;
        Ok(())
    }

    fn on_shutdown(&mut self) {
        let mut world = self.world.lock().unwrap_or_else(|e| e.into_inner());
        world.violations += self.local.violations;
        for (player, position) in self.local.position.drain() {
            *world.position.entry(player).or_insert(0) += position;
        }
    }
}

struct Args {
    clients: u32,
    inputs: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        clients: 8,
        inputs: 2_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = |it: &mut dyn Iterator<Item = String>| {
            it.next()
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|&v| v > 0)
                .ok_or_else(|| format!("{flag} needs a positive number"))
        };
        match flag.as_str() {
            "--clients" => args.clients = value(&mut it)?,
            "--inputs" => args.inputs = value(&mut it)?,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (use --clients N, --inputs N)"
                ))
            }
        }
    }
    Ok(args)
}

/// A simulated client: player `player` sends `inputs` inputs and returns
/// the sum of its movements (where the server should put it).
async fn client(addr: std::net::SocketAddr, player: u32, inputs: u32) -> std::io::Result<i64> {
    let mut out = BufWriter::new(TcpStream::connect(addr).await?);
    let mut sum = 0i64;
    for seq in 0..inputs {
        // In i64, so that no --inputs or --clients can overflow it.
        let dx = (i64::from(seq) * 7 + i64::from(player)) % 11 - 5;
        sum += dx;
        out.write_all(&Input { player, seq, dx }.encode()).await?;
    }
    out.flush().await?;
    out.into_inner().shutdown().await?;
    Ok(sum)
}

/// A connection task: decodes inputs until the client hangs up and
/// publishes each one asynchronously. Returns how many it published.
async fn connection(
    stream: TcpStream,
    inputs: Topic<Input>,
) -> Result<u64, Box<dyn Error + Send + Sync>> {
    let mut stream = BufReader::new(stream);
    let mut frame = [0u8; WIRE];
    let mut published = 0;
    loop {
        match stream.read_exact(&mut frame).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(published),
            Err(e) => return Err(e.into()),
        }
        inputs.publish_async(Input::decode(&frame)).await?;
        published += 1;
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(failures) if failures.is_empty() => ExitCode::SUCCESS,
        Ok(failures) => {
            for failure in failures {
                eprintln!("FAILED: {failure}");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<Vec<String>, Box<dyn Error>> {
    let Args { clients, inputs } = parse_args()?;
    let total = u64::from(clients) * u64::from(inputs);
    let world = Arc::new(Mutex::new(World::default()));
    let shared = Arc::clone(&world);
    let engine = Engine::builder()
        .topic_with::<Input, _>(
            "inputs",
            TopicOptions::new(4).capacity(64),
            by_key(|i: &Input| i.player),
        )
        .subscribe("physics", "inputs", GroupOptions::workers(2), move |_| {
            Physics {
                next_seq: HashMap::new(),
                local: World::default(),
                world: Arc::clone(&shared),
            }
        })
        .subscribe("tick", "inputs", GroupOptions::poll(), |_| {
            veltrix::listener::from_fn(|_: &Input, _ctx| Ok(()))
        })
        .build()?;
    let topic = engine.topic::<Input>("inputs")?;
    let mut tick = engine.poller("tick")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (expected, ticks, ticked) = runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // The tick task: up to 256 inputs per tick, asleep while none come.
        let ticker = tokio::spawn(async move {
            let (mut ticks, mut handled) = (0u64, 0u64);
            while handled < total {
                let Some(n) = tick.poll_async(256).await else {
                    break; // the group finished early: the checks say so
                };
                handled += n as u64;
                ticks += 1;
            }
            (ticks, handled)
        });
        let server = tokio::spawn(async move {
            let mut connections = Vec::new();
            for _ in 0..clients {
                let (stream, _) = listener.accept().await?;
                connections.push(tokio::spawn(connection(stream, topic.clone())));
            }
            let mut published = 0;
            for c in connections {
                published += c
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
            }
            Ok::<u64, Box<dyn Error + Send + Sync>>(published)
        });
        let senders: Vec<_> = (0..clients)
            .map(|player| tokio::spawn(client(addr, player, inputs)))
            .collect();
        let mut expected = HashMap::new();
        for (player, sender) in (0..clients).zip(senders) {
            expected.insert(player, sender.await??);
        }
        let published = server.await?.map_err(|e| e.to_string())?;
        if published != total {
            return Err(format!(
                "the server published {published} inputs, the clients sent {total}"
            )
            .into());
        }
        let (ticks, ticked) = ticker.await?;
        Ok::<_, Box<dyn Error>>((expected, ticks, ticked))
    })?;
    let elapsed = started.elapsed();
    drop(runtime);
    let report = engine.shutdown();

    let mut failures = Vec::new();
    if let Err(errors) = report.check_conservation() {
        failures.extend(errors.iter().map(|e| format!("conservation: {e}")));
    }
    let published = report.topic("inputs").map_or(0, |t| t.published);
    if published != total {
        failures.push(format!("topic published {published}, clients sent {total}"));
    }
    for group in ["physics", "tick"] {
        let handled = report.group(group).map_or(0, |g| g.handled);
        if handled != total {
            failures.push(format!("group {group} handled {handled} of {total}"));
        }
    }
    if ticked != total {
        failures.push(format!("the tick task counted {ticked} of {total}"));
    }
    let world = world.lock().unwrap_or_else(|e| e.into_inner());
    if world.violations != 0 {
        failures.push(format!("{} inputs arrived out of order", world.violations));
    }
    for (player, want) in &expected {
        let got = world.position.get(player).copied().unwrap_or(0);
        if got != *want {
            failures.push(format!(
                "player {player} ended at {got}, its inputs sum to {want}"
            ));
        }
    }

    println!(
        "tokio_server: {clients} clients x {inputs} inputs over loopback TCP, 4 partitions of 64"
    );
    println!(
        "  {total} inputs in {:.1} ms ({:.2} M inputs/s), {ticks} ticks",
        elapsed.as_secs_f64() * 1e3,
        total as f64 / elapsed.as_secs_f64() / 1e6
    );
    for group in &report.groups {
        println!("  group {:<8} handled {}", group.name, group.handled);
    }
    if failures.is_empty() {
        println!("TOKIO OK: {total} inputs, none lost, duplicated or reordered; every player where its inputs put it");
    }
    Ok(failures)
}
