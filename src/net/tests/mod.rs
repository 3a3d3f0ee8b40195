//! The core without Node: real loopback sockets, events collected by a channel-backed sink.

mod tls;
mod udp;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::net::conn::{Readout, Request, CREDIT};
use crate::net::poller::{serve, Poller, ReadSink};
use crate::net::tcp::ListenConfig;
use crate::net::{next_id, Conn, Credit, Creditor, Event, EventSink, HandleId, Listener, Target};

const WAIT: Duration = Duration::from_secs(5);

/// `len` bytes of a pattern that shows a lost, doubled or moved byte.
fn pattern(len: usize) -> Vec<u8> {
  (0..len).map(|i| (i % 251) as u8).collect()
}

/// Writes all of `payload` from another thread, retrying while the socket takes nothing.
fn send_all(conn: &Arc<Conn>, payload: &[u8]) -> std::thread::JoinHandle<()> {
  let conn = conn.clone();
  let payload = payload.to_vec();
  std::thread::spawn(move || {
    let mut sent = 0;
    while sent < payload.len() {
      match conn.write(&payload[sent..]) {
        n if n > 0 => sent += n as usize,
        0 => std::thread::sleep(Duration::from_millis(1)),
        _ => panic!("socket closed while sending"),
      }
    }
  })
}

struct ChannelSink(Mutex<Sender<(HandleId, Event)>>);

impl EventSink for ChannelSink {
  fn emit(&self, id: HandleId, event: Event) -> bool {
    self.0.lock().unwrap().send((id, event)).is_ok()
  }
}

fn sink() -> (Arc<dyn EventSink>, Receiver<(HandleId, Event)>) {
  let (tx, rx) = channel();
  (Arc::new(ChannelSink(Mutex::new(tx))), rx)
}

fn next(rx: &Receiver<(HandleId, Event)>) -> (HandleId, Event) {
  rx.recv_timeout(WAIT).expect("no event within 5 s")
}

fn listen(sink: &Arc<dyn EventSink>) -> (Arc<Listener>, u16) {
  listen_tls(sink, None)
}

/// A listener on 127.0.0.1 with a free port, speaking TLS with `tls`.
fn listen_tls(
  sink: &Arc<dyn EventSink>,
  tls: Option<Arc<crate::net::tls::ServerTls>>,
) -> (Arc<Listener>, u16) {
  let config = ListenConfig {
    target: loopback(0),
    reuse_port: false,
    ipv6_only: false,
  };
  let listener = Listener::bind(next_id(), sink.clone(), &config, tls).unwrap();
  let port = listener.local_addr().unwrap().port();
  (listener, port)
}

fn loopback(port: u16) -> Target {
  Target::Tcp {
    host: "127.0.0.1".into(),
    port,
  }
}

type Events = Receiver<(HandleId, Event)>;

/// What the JS thread does in the addon: a thread that owns the set of plain sockets,
/// serves the ready ones and reports what it read on the same channel as the tasks.
struct Reader {
  poller: Arc<Mutex<Poller<()>>>,
  stop: Arc<AtomicBool>,
  thread: Option<std::thread::JoinHandle<()>>,
}

/// Reads into a plain buffer; readouts become events on the channel.
struct Turn<'a> {
  buf: &'a mut [u8],
  id: HandleId,
  sink: &'a dyn EventSink,
}

impl ReadSink for Turn<'_> {
  fn buffer(&mut self) -> Option<&mut [u8]> {
    Some(self.buf)
  }

  fn data(&mut self, n: usize) {
    let chunk = self.buf[..n].to_vec();
    self
      .sink
      .emit(self.id, Event::Data(chunk, Credit::new(Arc::new(NoCredit))));
  }

  fn event(&mut self, out: Readout) {
    let event = match out {
      Readout::Data(n) => return self.data(n),
      Readout::End => Event::End,
      Readout::Drain => Event::Drain,
      Readout::Close(err) => Event::Close(err),
    };
    self.sink.emit(self.id, event);
  }
}

struct NoCredit;

impl Creditor for NoCredit {
  fn credit_returned(&self, _amount: usize) {}
}

impl Reader {
  fn start(sink: Arc<dyn EventSink>) -> Reader {
    let poller = Arc::new(Mutex::new(Poller::new().unwrap()));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
      let (poller, stop) = (poller.clone(), stop.clone());
      std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while !stop.load(Ordering::Acquire) {
          let mut ready = Vec::new();
          poller.lock().unwrap().ready(5, &mut ready);
          for (conn, (), mut flags) in ready {
            let id = conn.id();
            let mut turn = Turn {
              buf: &mut buf,
              id,
              sink: &*sink,
            };
            let open = serve(&conn, &mut flags, &mut turn);
            let mut poller = poller.lock().unwrap();
            if open {
              poller.served(id, flags);
            } else {
              poller.remove(id);
            }
          }
        }
      })
    };
    Reader {
      poller,
      stop,
      thread: Some(thread),
    }
  }

  fn watch(&self, conn: &Arc<Conn>) {
    self.poller.lock().unwrap().add(conn, ()).unwrap();
  }

  fn update(&self, conn: &Conn) {
    self.poller.lock().unwrap().update(conn.id());
  }
}

impl Drop for Reader {
  fn drop(&mut self) {
    self.stop.store(true, Ordering::Release);
    if let Some(thread) = self.thread.take() {
      let _ = thread.join();
    }
  }
}

/// Stops its listener when dropped.
struct Pair {
  server: Arc<Conn>,
  client: Arc<Conn>,
  rx: Events,
  listener: Arc<Listener>,
  reader: Reader,
}

impl Drop for Pair {
  fn drop(&mut self) {
    self.listener.stop();
  }
}

/// A connected pair of plain sockets, both read by one `Reader`; events of both on `rx`.
fn pair() -> Pair {
  let (sink, rx) = sink();
  let (listener, port) = listen(&sink);
  let reader = Reader::start(sink.clone());
  Conn::connect(next_id(), sink, loopback(port), None);
  let (mut server, mut client) = (None, None);
  while server.is_none() || client.is_none() {
    match next(&rx).1 {
      Event::Accept(conn) => server = Some(conn),
      Event::Open(conn) => client = Some(conn),
      _ => panic!("unexpected event before both ends are up"),
    }
  }
  let (server, client) = (server.unwrap(), client.unwrap());
  reader.watch(&server);
  reader.watch(&client);
  Pair {
    server,
    client,
    rx,
    listener,
    reader,
  }
}

#[test]
fn bytes_arrive_once_and_in_order() {
  let p = pair();
  let payload = pattern(4 * 1024 * 1024);
  let sender = send_all(&p.client, &payload);
  let mut received = Vec::new();
  while received.len() < payload.len() {
    match next(&p.rx) {
      (id, Event::Data(chunk, _)) if id == p.server.id() => received.extend_from_slice(&chunk),
      (_, Event::Drain) => {}
      (_, other) => panic!("unexpected event {}", name(&other)),
    }
  }
  sender.join().unwrap();
  assert_eq!(received, payload);
}

#[test]
fn a_short_write_is_followed_by_drain_once_the_peer_reads() {
  let p = pair();
  p.server.set_paused(true);
  p.reader.update(&p.server);
  let chunk = vec![7u8; 256 * 1024];
  let mut total = 0;
  // Until the kernel takes nothing (it may take a little more after a first short write).
  loop {
    let n = p.client.write(&chunk);
    assert!(n >= 0);
    total += n as usize;
    if n == 0 {
      break;
    }
  }
  p.reader.update(&p.client);
  assert_eq!(p.client.bytes_written() as usize, total);
  assert!(
    !matches!(
      p.rx.recv_timeout(Duration::from_millis(100)),
      Ok((_, Event::Data(..)))
    ),
    "paused: no data arrives"
  );
  p.server.set_paused(false);
  p.reader.update(&p.server);
  let mut got = 0;
  let mut drains = 0;
  while got < total || drains == 0 {
    match next(&p.rx) {
      (_, Event::Data(data, _)) => got += data.len(),
      (id, Event::Drain) => {
        assert_eq!(id, p.client.id());
        drains += 1;
      }
      (_, other) => panic!("unexpected event {}", name(&other)),
    }
  }
  assert_eq!(got, total);
  assert_eq!(drains, 1);
}

#[test]
fn pause_resume_pause_stays_paused() {
  let p = pair();
  for paused in [true, false, true] {
    p.server.set_paused(paused);
  }
  p.reader.update(&p.server);
  assert_eq!(p.client.write(b"held"), 4);
  assert!(
    p.rx.recv_timeout(Duration::from_millis(100)).is_err(),
    "the last request wins: paused"
  );
  p.server.set_paused(false);
  p.reader.update(&p.server);
  assert!(matches!(next(&p.rx), (id, Event::Data(ref d, _)) if id == p.server.id() && d == b"held"));
}

#[test]
fn a_reset_while_paused_delivers_the_data_ahead_of_it() {
  let p = pair();
  p.server.set_paused(true);
  p.reader.update(&p.server);
  assert_eq!(p.client.write(b"last words"), 10);
  std::thread::sleep(Duration::from_millis(50));
  p.client.terminate();
  assert!(matches!(next(&p.rx), (id, Event::Data(ref d, _)) if id == p.server.id() && d == b"last words"));
  match next(&p.rx) {
    (id, Event::Close(Some(err))) if id == p.server.id() => assert_eq!(err.code(), "ECONNRESET"),
    (_, other) => panic!("expected close with ECONNRESET, got {}", name(&other)),
  }
}

#[test]
fn end_closes_now_and_the_peer_sees_end() {
  let p = pair();
  assert!(p.client.end(), "nothing pending: closed at once");
  assert_eq!(p.client.write(b"late"), -1);
  let (id, event) = next(&p.rx);
  assert_eq!(id, p.server.id());
  assert!(matches!(event, Event::End), "got {}", name(&event));
}

#[test]
fn the_peer_s_end_after_its_last_bytes_is_read() {
  // Bytes and FIN usually come in one readiness: a short read takes the bytes, and the FIN
  // behind them must still be read (a level-triggered set reports it again; the portable set
  // keeps the end of a direction for good).
  for _ in 0..10 {
    let pair = pair();
    let Pair {
      server, client, rx, ..
    } = &pair;
    assert_eq!(client.write(b"bye"), 3);
    assert!(client.end());
    assert!(matches!(next(rx), (id, Event::Data(ref d, _)) if id == server.id() && d == b"bye"));
    assert!(matches!(next(rx), (id, Event::End) if id == server.id()));
  }
}

#[test]
fn terminate_resets_the_peer() {
  let p = pair();
  // The reset goes out at once, whoever still holds the connection.
  p.client.terminate();
  let (id, event) = next(&p.rx);
  assert_eq!(id, p.server.id());
  match event {
    Event::Close(Some(err)) => assert_eq!(err.code(), "ECONNRESET"),
    other => panic!("expected close with ECONNRESET, got {}", name(&other)),
  }
}

#[test]
fn an_idle_plain_connection_is_small_and_has_no_task() {
  let p = pair();
  // What an idle socket costs beside the kernel's: this struct, and nothing on the I/O thread.
  let size = std::mem::size_of::<Conn>();
  assert!(size <= 320, "a connection is {size} bytes");
  assert!(!p.server.timer_running());
}

#[test]
fn timeout_fires_once_and_any_number_is_accepted() {
  let p = pair();
  for huge in [f64::INFINITY, 1e308, 1e20, f64::MAX, f64::NAN, -1.0] {
    p.client.set_timeout(huge);
  }
  p.server.set_timeout(0.05);
  let (id, event) = next(&p.rx);
  assert_eq!(id, p.server.id());
  assert!(matches!(event, Event::Timeout));
  assert!(p.rx.recv_timeout(Duration::from_millis(200)).is_err(), "one-shot");
  p.client.set_timeout(f64::INFINITY);
  assert!(p.client.timer_running());
  p.client.close();
  std::thread::sleep(Duration::from_millis(50));
  assert!(!p.client.timer_running(), "closing ends the timer");
}

#[test]
fn connect_to_a_closed_port_reports_econnrefused() {
  let (sink, rx) = sink();
  let (listener, port) = listen(&sink);
  listener.stop();
  Conn::connect(next_id(), sink, loopback(port), None);
  match next(&rx).1 {
    Event::ConnectError(err) => assert_eq!(err.code(), "ECONNREFUSED"),
    other => panic!("expected connect error, got {}", name(&other)),
  }
}

#[test]
fn a_taken_port_reports_eaddrinuse() {
  let (sink, _rx) = sink();
  let (listener, port) = listen(&sink);
  let config = ListenConfig {
    target: loopback(port),
    reuse_port: false,
    ipv6_only: false,
  };
  let err = Listener::bind(next_id(), sink, &config, None)
    .err()
    .expect("second bind must fail");
  assert_eq!(err.code(), "EADDRINUSE");
  listener.stop();
}

#[test]
fn reuse_port_shares_a_port_only_among_listeners_that_ask_for_it() {
  let (sink, _rx) = sink();
  let bind = |port: u16, reuse_port: bool| {
    let config = ListenConfig {
      target: loopback(port),
      reuse_port,
      ipv6_only: false,
    };
    Listener::bind(next_id(), sink.clone(), &config, None)
  };
  let first = bind(0, true).unwrap();
  let port = first.local_addr().unwrap().port();
  let second = bind(port, true).expect("both asked to share");
  assert_eq!(bind(port, false).err().map(|e| e.code()), Some("EADDRINUSE"));
  first.stop();
  second.stop();
}

#[test]
fn ipv6_only_leaves_the_ipv4_port_free() {
  let (sink, _rx) = sink();
  let bind = |host: &str, port: u16, ipv6_only: bool| {
    let config = ListenConfig {
      target: Target::Tcp {
        host: host.to_owned(),
        port,
      },
      reuse_port: false,
      ipv6_only,
    };
    Listener::bind(next_id(), sink.clone(), &config, None)
  };
  let Ok(dual) = bind("::", 0, false) else {
    return; // no IPv6 on this machine
  };
  let port = dual.local_addr().unwrap().port();
  assert_eq!(
    bind("0.0.0.0", port, false).err().map(|e| e.code()),
    Some("EADDRINUSE")
  );
  dual.stop();
  let only = bind("::", 0, true).unwrap();
  let port = only.local_addr().unwrap().port();
  let v4 = bind("0.0.0.0", port, false).expect("IPv4 is free beside an IPv6-only listener");
  only.stop();
  v4.stop();
}

#[test]
fn unix_sockets_connect_and_unlink_on_stop() {
  let dir = std::env::temp_dir().join(format!("bun-sockets-test-{}", std::process::id()));
  std::fs::create_dir_all(&dir).unwrap();
  let path = dir.join("s.sock");
  let (sink, rx) = sink();
  let config = ListenConfig {
    target: Target::Unix(path.clone()),
    reuse_port: false,
    ipv6_only: false,
  };
  let listener = Listener::bind(next_id(), sink.clone(), &config, None).unwrap();
  let reader = Reader::start(sink.clone());
  Conn::connect(next_id(), sink, Target::Unix(path.clone()), None);
  let mut client = None;
  let mut accepted = false;
  while client.is_none() || !accepted {
    match next(&rx).1 {
      Event::Open(conn) => client = Some(conn),
      Event::Accept(conn) => {
        reader.watch(&conn);
        accepted = true;
      }
      other => panic!("unexpected {}", name(&other)),
    }
  }
  assert_eq!(client.unwrap().write(b"hi"), 2);
  assert!(matches!(next(&rx).1, Event::Data(ref d, _) if d == b"hi"));
  listener.stop();
  assert!(!path.exists());
  let _ = std::fs::remove_dir_all(dir);
}

fn name(event: &Event) -> &'static str {
  match event {
    Event::Open(_) => "open",
    Event::Accept(_) => "accept",
    Event::Data(..) => "data",
    Event::Drain => "drain",
    Event::End => "end",
    Event::Close(_) => "close",
    Event::Error(_) => "error",
    Event::ConnectError(_) => "connectError",
    Event::Timeout => "timeout",
    Event::Datagrams(..) => "datagrams",
    Event::Bound(_) => "bound",
    Event::Handshake(_) => "handshake",
    Event::Records(..) => "records",
    Event::Tls(_) => "tls",
  }
}

#[test]
fn a_task_that_panics_runs_its_guard_and_the_runtime_goes_on() {
  let (tx, rx) = channel();
  crate::runtime::handle().spawn(async move {
    let _guard = crate::net::OnPanic::new(move || tx.send("closed").unwrap());
    panic!("a bug in a task");
  });
  assert_eq!(rx.recv_timeout(WAIT), Ok("closed"));
  // The I/O thread still runs tasks.
  let (tx, rx) = channel();
  crate::runtime::handle().spawn(async move { tx.send(1).unwrap() });
  assert_eq!(rx.recv_timeout(WAIT), Ok(1));
}

#[test]
fn a_guard_that_was_disarmed_does_nothing() {
  let (tx, rx) = channel::<()>();
  crate::net::OnPanic::new(move || tx.send(()).unwrap()).disarm();
  assert!(rx.recv_timeout(Duration::from_millis(10)).is_err());
}
