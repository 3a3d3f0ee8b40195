//! The core without Node: real loopback sockets, events collected by a channel-backed sink.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::net::conn::{Readout, Request, CREDIT};
use crate::net::poller::{serve, Poller, ReadSink};
use crate::net::tcp::ListenConfig;
use crate::net::{next_id, Conn, Credit, Creditor, Event, EventSink, HandleId, Listener, Target};

const WAIT: Duration = Duration::from_secs(5);

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
    exclusive: false,
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
  fn buffer(&mut self) -> &mut [u8] {
    self.buf
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

struct Pair {
  server: Arc<Conn>,
  client: Arc<Conn>,
  rx: Events,
  listener: Arc<Listener>,
  reader: Reader,
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
  let Pair {
    server,
    client,
    rx,
    listener,
    reader,
  } = pair();
  let payload: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
  let sender = {
    let client = client.clone();
    let payload = payload.clone();
    std::thread::spawn(move || {
      let mut sent = 0;
      while sent < payload.len() {
        match client.write(&payload[sent..]) {
          n if n > 0 => sent += n as usize,
          0 => std::thread::sleep(Duration::from_millis(1)),
          _ => panic!("socket closed while sending"),
        }
      }
    })
  };
  let mut received = Vec::new();
  while received.len() < payload.len() {
    match next(&rx) {
      (id, Event::Data(chunk, _)) if id == server.id() => received.extend_from_slice(&chunk),
      (_, Event::Drain) => {}
      (_, other) => panic!("unexpected event {}", name(&other)),
    }
  }
  sender.join().unwrap();
  assert_eq!(received, payload);
  drop(reader);
  listener.stop();
}

#[test]
fn a_short_write_is_followed_by_drain_once_the_peer_reads() {
  let Pair {
    server,
    client,
    rx,
    listener,
    reader,
  } = pair();
  server.set_paused(true);
  reader.update(&server);
  let chunk = vec![7u8; 256 * 1024];
  let mut total = 0;
  // Until the kernel takes nothing (it may take a little more after a first short write).
  loop {
    let n = client.write(&chunk);
    assert!(n >= 0);
    total += n as usize;
    if n == 0 {
      break;
    }
  }
  reader.update(&client);
  assert_eq!(client.bytes_written() as usize, total);
  assert!(
    !matches!(
      rx.recv_timeout(Duration::from_millis(100)),
      Ok((_, Event::Data(..)))
    ),
    "paused: no data arrives"
  );
  server.set_paused(false);
  reader.update(&server);
  let mut got = 0;
  let mut drains = 0;
  while got < total || drains == 0 {
    match next(&rx) {
      (_, Event::Data(data, _)) => got += data.len(),
      (id, Event::Drain) => {
        assert_eq!(id, client.id());
        drains += 1;
      }
      (_, other) => panic!("unexpected event {}", name(&other)),
    }
  }
  assert_eq!(got, total);
  assert_eq!(drains, 1);
  drop(reader);
  listener.stop();
}

#[test]
fn pause_resume_pause_stays_paused() {
  let Pair {
    server,
    client,
    rx,
    listener,
    reader,
  } = pair();
  for paused in [true, false, true] {
    server.set_paused(paused);
  }
  reader.update(&server);
  assert_eq!(client.write(b"held"), 4);
  assert!(
    rx.recv_timeout(Duration::from_millis(100)).is_err(),
    "the last request wins: paused"
  );
  server.set_paused(false);
  reader.update(&server);
  assert!(matches!(next(&rx), (id, Event::Data(ref d, _)) if id == server.id() && d == b"held"));
  drop(reader);
  listener.stop();
}

#[test]
fn a_reset_while_paused_delivers_the_data_ahead_of_it() {
  let Pair {
    server,
    client,
    rx,
    listener,
    reader,
  } = pair();
  server.set_paused(true);
  reader.update(&server);
  assert_eq!(client.write(b"last words"), 10);
  std::thread::sleep(Duration::from_millis(50));
  client.terminate();
  assert!(matches!(next(&rx), (id, Event::Data(ref d, _)) if id == server.id() && d == b"last words"));
  match next(&rx) {
    (id, Event::Close(Some(err))) if id == server.id() => assert_eq!(err.code(), "ECONNRESET"),
    (_, other) => panic!("expected close with ECONNRESET, got {}", name(&other)),
  }
  drop(reader);
  listener.stop();
}

#[test]
fn end_closes_now_and_the_peer_sees_end() {
  let Pair {
    server,
    client,
    rx,
    listener,
    reader: _reader,
  } = pair();
  assert!(client.end(), "nothing pending: closed at once");
  assert_eq!(client.write(b"late"), -1);
  let (id, event) = next(&rx);
  assert_eq!(id, server.id());
  assert!(matches!(event, Event::End), "got {}", name(&event));
  listener.stop();
}

#[test]
fn the_peer_s_end_after_its_last_bytes_is_read() {
  // Bytes and FIN usually come in one readiness: a short read takes the bytes, and the FIN
  // behind them must still be read (a level-triggered set reports it again; the portable set
  // keeps the end of a direction for good).
  for _ in 0..10 {
    let Pair {
      server,
      client,
      rx,
      listener,
      reader: _reader,
    } = pair();
    assert_eq!(client.write(b"bye"), 3);
    assert!(client.end());
    assert!(matches!(next(&rx), (id, Event::Data(ref d, _)) if id == server.id() && d == b"bye"));
    assert!(matches!(next(&rx), (id, Event::End) if id == server.id()));
    listener.stop();
  }
}

#[test]
fn terminate_resets_the_peer() {
  let Pair {
    server,
    client,
    rx,
    listener,
    reader: _reader,
  } = pair();
  // The reset goes out at once, whoever still holds the connection.
  client.terminate();
  let (id, event) = next(&rx);
  assert_eq!(id, server.id());
  match event {
    Event::Close(Some(err)) => assert_eq!(err.code(), "ECONNRESET"),
    other => panic!("expected close with ECONNRESET, got {}", name(&other)),
  }
  listener.stop();
}

#[test]
fn an_idle_plain_connection_is_small_and_has_no_task() {
  let Pair {
    server,
    listener,
    reader: _reader,
    ..
  } = pair();
  // What an idle socket costs beside the kernel's: this struct, and nothing on the I/O thread.
  let size = std::mem::size_of::<Conn>();
  assert!(size <= 320, "a connection is {size} bytes");
  assert!(!server.timer_running());
  listener.stop();
}

#[test]
fn timeout_fires_once_and_any_number_is_accepted() {
  let Pair {
    server,
    client,
    rx,
    listener,
    reader: _reader,
  } = pair();
  for huge in [f64::INFINITY, 1e308, 1e20, f64::MAX, f64::NAN, -1.0] {
    client.set_timeout(huge);
  }
  server.set_timeout(0.05);
  let (id, event) = next(&rx);
  assert_eq!(id, server.id());
  assert!(matches!(event, Event::Timeout));
  assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "one-shot");
  client.set_timeout(f64::INFINITY);
  assert!(client.timer_running());
  client.close();
  std::thread::sleep(Duration::from_millis(50));
  assert!(!client.timer_running(), "closing ends the timer");
  listener.stop();
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
    exclusive: false,
  };
  let err = Listener::bind(next_id(), sink, &config, None)
    .err()
    .expect("second bind must fail");
  assert_eq!(err.code(), "EADDRINUSE");
  listener.stop();
}

#[test]
fn unix_sockets_connect_and_unlink_on_stop() {
  let dir = std::env::temp_dir().join(format!("bun-sockets-test-{}", std::process::id()));
  std::fs::create_dir_all(&dir).unwrap();
  let path = dir.join("s.sock");
  let (sink, rx) = sink();
  let config = ListenConfig {
    target: Target::Unix(path.clone()),
    exclusive: false,
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
    Event::Handshake(_) => "handshake",
    Event::Records(..) => "records",
    Event::Tls(_) => "tls",
  }
}

mod udp {
  use std::net::SocketAddr;

  use super::*;
  use crate::net::udp::{Udp, UdpConfig};

  fn bind(sink: &Arc<dyn EventSink>, port: u16) -> Arc<Udp> {
    let config = UdpConfig {
      bind: SocketAddr::from(([127, 0, 0, 1], port)),
      connect: None,
    };
    Udp::bind(next_id(), sink.clone(), &config).unwrap()
  }

  /// Waits for an `error` event with `code`, skipping the first `drain`.
  fn expect_error(rx: &Events, code: &str) {
    loop {
      match next(rx).1 {
        Event::Error(err) => return assert_eq!(err.code(), code),
        Event::Drain => {}
        other => panic!("unexpected {}", name(&other)),
      }
    }
  }

  /// Skips the `drain` each socket reports once after creation.
  fn next_datagrams(rx: &Events) -> crate::net::udp::Batch {
    loop {
      match next(rx).1 {
        Event::Datagrams(batch, _) => return batch,
        Event::Drain => {}
        other => panic!("unexpected {}", name(&other)),
      }
    }
  }

  #[test]
  fn send_many_arrives_in_order_with_the_sender() {
    let (sink, rx) = sink();
    let receiver = bind(&sink, 0);
    let sender = bind(&sink, 0);
    let to = receiver.local_addr();
    let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; 10 + i as usize]).collect();
    let packets: Vec<(&[u8], Option<SocketAddr>)> = payloads.iter().map(|p| (p.as_slice(), to)).collect();
    assert_eq!(sender.send_many(&packets).unwrap(), 100);
    let mut got = Vec::new();
    while got.len() < 100 {
      let batch = next_datagrams(&rx);
      let mut offset = 0;
      for datagram in &batch.datagrams {
        assert_eq!(datagram.from, sender.local_addr().unwrap());
        assert!(!datagram.truncated);
        got.push(batch.bytes[offset..offset + datagram.len as usize].to_vec());
        offset += datagram.len as usize;
      }
    }
    assert_eq!(got, payloads);
    sender.close();
    receiver.close();
  }

  #[test]
  fn close_frees_the_port_before_returning() {
    let (sink, _rx) = sink();
    // Ports below the ephemeral range (32768 and up): a test binding port 0 at the same time
    // could otherwise be given the port just freed, and the rebind would fail for that reason.
    let base = 20_000 + (std::process::id() % 5_000) as u16 * 2;
    let mut checked = 0;
    for port in (base..base + 400).step_by(7) {
      let config = UdpConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], port)),
        connect: None,
      };
      // Taken by something else on this machine: try the next.
      let Ok(udp) = Udp::bind(next_id(), sink.clone(), &config) else {
        continue;
      };
      udp.close();
      assert_eq!(udp.fd(), -1);
      // The port is free once the kernel released the old socket. That happens in close()
      // itself, unless the I/O thread's epoll_wait holds a passing reference to it at that
      // instant (then microseconds later): allow that, not more.
      let deadline = std::time::Instant::now() + Duration::from_millis(100);
      let rebound = loop {
        match Udp::bind(next_id(), sink.clone(), &config) {
          Ok(udp) => break udp,
          Err(err) if std::time::Instant::now() < deadline => {
            assert_eq!(err.code(), "EADDRINUSE");
            std::thread::sleep(Duration::from_micros(200));
          }
          Err(err) => panic!("port {port} still taken 100 ms after close: {err}"),
        }
      };
      rebound.close();
      checked += 1;
      if checked == 20 {
        break;
      }
    }
    assert_eq!(checked, 20);
  }

  // Unconnected sockets learn of ICMP errors only through Linux's error queue.
  #[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "portable-fallbacks")
  ))]
  #[test]
  fn port_unreachable_is_reported_from_the_error_queue() {
    let (sink, rx) = sink();
    let gone = bind(&sink, 0);
    let dead = gone.local_addr();
    gone.close();
    let udp = bind(&sink, 0);
    assert!(matches!(udp.send(b"anyone?", dead), Ok(true)));
    expect_error(&rx, "ECONNREFUSED");
    udp.close();
  }

  /// A connected socket gets ICMP errors everywhere: from the error queue on Linux, as the
  /// socket's own error (a failed read, SO_ERROR) with the portable fallbacks.
  #[test]
  fn port_unreachable_on_a_connected_socket_is_reported() {
    let (sink, rx) = sink();
    let gone = bind(&sink, 0);
    let dead = gone.local_addr().unwrap();
    gone.close();
    let config = UdpConfig {
      bind: SocketAddr::from(([127, 0, 0, 1], 0)),
      connect: Some(dead),
    };
    let udp = Udp::bind(next_id(), sink.clone(), &config).unwrap();
    assert!(matches!(udp.send(b"anyone?", None), Ok(true)));
    expect_error(&rx, "ECONNREFUSED");
    udp.close();
  }

  /// More datagrams than one batch holds, sent in one call and read back in several.
  #[test]
  fn batches_split_and_join_beyond_one_call() {
    let (sink, rx) = sink();
    let receiver = bind(&sink, 0);
    let sender = bind(&sink, 0);
    let to = receiver.local_addr();
    let count = crate::net::udp::BATCH * 3 + 5;
    let payloads: Vec<Vec<u8>> = (0..count).map(|i| (i as u32).to_be_bytes().to_vec()).collect();
    let packets: Vec<(&[u8], Option<SocketAddr>)> = payloads.iter().map(|p| (p.as_slice(), to)).collect();
    assert_eq!(sender.send_many(&packets).unwrap(), count);
    let mut got = Vec::new();
    while got.len() < count {
      let batch = next_datagrams(&rx);
      assert!(batch.datagrams.len() <= crate::net::udp::BATCH);
      for chunk in batch.bytes.chunks(4) {
        got.push(chunk.to_vec());
      }
    }
    assert_eq!(got, payloads);
    sender.close();
    receiver.close();
  }
}

mod tls {
  use std::path::Path;

  use rustls::pki_types::pem::PemObject;
  use rustls::pki_types::{CertificateDer, ServerName};

  use super::*;
  use crate::net::secure::{KeyingError, Secure};
  use crate::net::tls::{
    AlpnChoice, Answer, ClientTls, HandshakeOutcome, ServerTls, TlsNote, TlsOptions, VerifyMode, HOOK_ALWAYS,
  };

  fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
      .join("__test__/fixtures/certs")
      .join(name);
    std::fs::read(path).expect("fixture certificate")
  }

  fn certs(name: &str) -> Vec<Vec<u8>> {
    CertificateDer::pem_slice_iter(&fixture(name))
      .map(|cert| cert.unwrap().to_vec())
      .collect()
  }

  fn key(name: &str) -> Vec<u8> {
    rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(&fixture(name))
      .unwrap()
      .secret_pkcs8_der()
      .to_vec()
  }

  fn server_tls(cert: &str) -> Arc<ServerTls> {
    let options = TlsOptions {
      certs: certs(&format!("{cert}.pem")),
      key: Some(key(&format!("{cert}-key.pem"))),
      reject_unauthorized: true,
      ..TlsOptions::default()
    };
    Arc::new(ServerTls::new(&options).unwrap())
  }

  fn client_options(reject_unauthorized: bool) -> TlsOptions {
    TlsOptions {
      ca: Some(certs("ca.pem")),
      reject_unauthorized,
      ..TlsOptions::default()
    }
  }

  struct Tls {
    server: Arc<Conn>,
    client: Arc<Conn>,
    rx: Events,
    _listener: Arc<Listener>,
    client_id: HandleId,
  }

  /// A TLS pair whose client handshake is started; events of both ends on `rx`.
  fn tls_pair(server: &Arc<ServerTls>, client: &Arc<ClientTls>, session: Option<&[u8]>) -> Tls {
    let (sink, rx) = sink();
    let (listener, port) = listen_tls(&sink, Some(server.clone()));
    let name = ServerName::try_from("localhost").unwrap();
    let client_id = next_id();
    Conn::connect(
      client_id,
      sink,
      loopback(port),
      Some(Box::new(Secure::client(client.clone(), name, true))),
    );
    let (mut server_conn, mut client_conn) = (None, None);
    while server_conn.is_none() || client_conn.is_none() {
      match next(&rx).1 {
        Event::Accept(conn) => server_conn = Some(conn),
        Event::Open(conn) => {
          if let Some(token) = session {
            conn.secure().unwrap().set_session(token);
          }
          assert_eq!(conn.write(b"early"), 0, "writes before the handshake are refused");
          conn.request(Request::StartTls);
          client_conn = Some(conn);
        }
        other => panic!("unexpected {}", name_of(&other)),
      }
    }
    Tls {
      server: server_conn.unwrap(),
      client: client_conn.unwrap(),
      rx,
      _listener: listener,
      client_id,
    }
  }

  fn name_of(event: &Event) -> &'static str {
    super::name(event)
  }

  /// The handshake outcome of each end: (client, server).
  fn outcomes(pair: &Tls) -> (HandshakeOutcome, HandshakeOutcome) {
    let (mut client, mut server) = (None, None);
    while client.is_none() || server.is_none() {
      let (id, event) = next(&pair.rx);
      match event {
        Event::Handshake(outcome) if id == pair.client_id => client = Some(outcome),
        Event::Handshake(outcome) => server = Some(outcome),
        _ => {}
      }
    }
    (client.unwrap(), server.unwrap())
  }

  fn code(outcome: &HandshakeOutcome) -> Option<&'static str> {
    outcome.error.as_ref().map(|err| err.code())
  }

  #[test]
  fn handshake_then_data_both_ways() {
    let client = Arc::new(ClientTls::new(&client_options(true)).unwrap());
    let pair = tls_pair(&server_tls("server"), &client, None);
    let (c, s) = outcomes(&pair);
    assert!(c.success && c.error.is_none());
    // No client certificate was asked for: Bun's verdict on the server.
    assert!(s.success);
    assert_eq!(code(&s), Some("UNABLE_TO_GET_ISSUER_CERT"));
    let big = vec![7u8; 300_000];
    assert_eq!(pair.client.write(&big), big.len() as i64);
    assert_eq!(pair.server.write(b"pong"), 4);
    let (mut to_server, mut to_client) = (0, Vec::new());
    while to_server < big.len() || to_client.len() < 4 {
      let (id, event) = next(&pair.rx);
      match event {
        Event::Data(chunk, _) if id == pair.client_id => to_client.extend_from_slice(&chunk),
        Event::Data(chunk, _) => {
          assert!(chunk.iter().all(|b| *b == 7));
          to_server += chunk.len();
        }
        _ => {}
      }
    }
    assert_eq!(to_server, big.len());
    assert_eq!(to_client, b"pong");
    let info = pair.client.secure().unwrap().info().unwrap();
    assert_eq!(info.version, Some("TLSv1.3"));
    assert!(info.cipher.unwrap().starts_with("TLS13_"));
    let ours = pair
      .client
      .secure()
      .unwrap()
      .export_keying_material(32, b"label", None);
    let theirs = pair
      .server
      .secure()
      .unwrap()
      .export_keying_material(32, b"label", None);
    assert!(ours.is_ok() && ours == theirs);
    // HKDF-Expand gives at most 255 hash lengths; more fails before allocating.
    let hash_len = if info.cipher.unwrap().ends_with("SHA384") {
      48
    } else {
      32
    };
    let limit = 255 * hash_len;
    let client = pair.client.secure().unwrap();
    assert_eq!(
      client
        .export_keying_material(limit, b"label", None)
        .map(|v| v.len()),
      Ok(limit)
    );
    assert_eq!(
      client.export_keying_material(limit + 1, b"label", None),
      Err(KeyingError::TooLarge)
    );
    assert_eq!(
      client.export_keying_material(usize::MAX, b"label", None),
      Err(KeyingError::TooLarge)
    );
  }

  #[test]
  fn decrypted_chunks_in_flight_are_bounded_by_the_credit() {
    let client = Arc::new(ClientTls::new(&client_options(true)).unwrap());
    let pair = tls_pair(&server_tls("server"), &client, None);
    outcomes(&pair);
    let payload: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let sender = {
      let client = pair.client.clone();
      let payload = payload.clone();
      std::thread::spawn(move || {
        let mut sent = 0;
        while sent < payload.len() {
          match client.write(&payload[sent..]) {
            n if n > 0 => sent += n as usize,
            0 => std::thread::sleep(Duration::from_millis(1)),
            _ => panic!("socket closed while sending"),
          }
        }
      })
    };
    let mut received = Vec::new();
    let mut held = Vec::new();
    while received.len() < payload.len() {
      match next(&pair.rx) {
        (id, Event::Data(chunk, credit)) if id != pair.client_id => {
          received.extend_from_slice(&chunk);
          held.push(credit);
          assert!(held.len() <= CREDIT as usize, "more than CREDIT chunks in flight");
          if held.len() == CREDIT as usize {
            // No fifth chunk while four are held.
            assert!(!matches!(
              pair.rx.recv_timeout(Duration::from_millis(50)),
              Ok((id, Event::Data(..))) if id != pair.client_id
            ));
            held.clear();
          }
        }
        _ => {}
      }
    }
    sender.join().unwrap();
    assert_eq!(received, payload);
  }

  #[test]
  fn a_huge_write_to_a_peer_that_does_not_read_takes_what_the_kernel_takes() {
    let client = Arc::new(ClientTls::new(&client_options(true)).unwrap());
    let pair = tls_pair(&server_tls("server"), &client, None);
    outcomes(&pair);
    pair.server.set_paused(true);
    let huge = vec![1u8; 64 * 1024 * 1024];
    let taken = pair.client.write(&huge);
    assert!(taken > 0 && taken < 32 * 1024 * 1024, "took {taken}");
    assert_eq!(pair.client.write(&huge), 0, "then nothing until drain");
  }

  #[test]
  fn a_server_asked_to_wait_shows_the_client_hello_and_goes_on_with_the_answer() {
    let server = server_tls("server");
    server.set_hooks(HOOK_ALWAYS);
    let client = Arc::new(ClientTls::new(&client_options(true)).unwrap());
    let pair = tls_pair(&server, &client, None);
    loop {
      let (id, event) = next(&pair.rx);
      match event {
        Event::Tls(TlsNote::Hello { server_name, alpn }) => {
          assert_ne!(id, pair.client_id);
          assert_eq!((server_name.as_deref(), alpn), (Some("localhost"), None));
          break;
        }
        Event::Handshake(_) => panic!("the handshake went on without an answer"),
        _ => {}
      }
    }
    // Ask for a client certificate the client does not have, and let it in anyway.
    let answer = Answer {
      refuse: false,
      alpn: AlpnChoice::Listed,
      mode: VerifyMode {
        request_cert: true,
        reject_unauthorized: false,
      },
    };
    assert!(pair.server.secure().unwrap().answer_hello(answer));
    pair.server.request(Request::StartTls);
    let (c, s) = outcomes(&pair);
    assert!(c.success && c.error.is_none());
    assert!(s.success && !s.close);
    assert_eq!(code(&s), Some("UNABLE_TO_GET_ISSUER_CERT"));
  }

  #[test]
  fn refused_certificates_carry_node_codes() {
    let strict = Arc::new(ClientTls::new(&client_options(true)).unwrap());
    let lenient = Arc::new(ClientTls::new(&client_options(false)).unwrap());
    for (cert, expected) in [
      ("self-signed", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
      ("wrong-name", "ERR_TLS_CERT_ALTNAME_INVALID"),
      ("expired", "CERT_HAS_EXPIRED"),
    ] {
      let pair = tls_pair(&server_tls(cert), &strict, None);
      let (c, s) = outcomes(&pair);
      assert!(!c.success && c.close, "{cert} must be refused");
      assert_eq!(code(&c), Some(expected), "{cert}");
      // Bun's client hangs up without an alert: the server sees a reset.
      assert!(!s.success);
      assert_eq!(code(&s), Some("ECONNRESET"), "{cert}");

      let pair = tls_pair(&server_tls(cert), &lenient, None);
      let (c, _) = outcomes(&pair);
      assert!(!c.close, "{cert}: rejectUnauthorized false keeps the connection");
      assert_eq!(code(&c), Some(expected), "{cert}");
      // Bun reports a hostname mismatch as unsuccessful even then.
      assert_eq!(c.success, cert != "wrong-name", "{cert}");
    }
  }

  #[test]
  fn a_session_token_resumes_a_later_connection() {
    let client = Arc::new(ClientTls::new(&client_options(true)).unwrap());
    let server = server_tls("server");
    let first = tls_pair(&server, &client, None);
    outcomes(&first);
    // TLS 1.3 tickets follow the handshake; wait for the server's first data to be sure.
    assert_eq!(first.server.write(b"x"), 1);
    while !matches!(next(&first.rx), (id, Event::Data(..)) if id == first.client_id) {}
    let token = first.client.secure().unwrap().session_token().unwrap();
    let second = tls_pair(&server, &client, Some(&token));
    outcomes(&second);
    assert!(second.client.secure().unwrap().info().unwrap().resumed);
    assert!(second.server.secure().unwrap().info().unwrap().resumed);
    let fresh = tls_pair(&server, &client, Some(b"garbage"));
    outcomes(&fresh);
    assert!(!fresh.client.secure().unwrap().info().unwrap().resumed);
  }

  #[test]
  fn a_plain_peer_fails_the_handshake_with_eproto() {
    let (sink, rx) = sink();
    let (listener, port) = listen(&sink);
    let client = Arc::new(ClientTls::new(&client_options(true)).unwrap());
    let client_id = next_id();
    Conn::connect(
      client_id,
      sink,
      loopback(port),
      Some(Box::new(Secure::client(
        client,
        ServerName::try_from("localhost").unwrap(),
        true,
      ))),
    );
    let mut outcome = None;
    let mut plain_server = None;
    while outcome.is_none() {
      match next(&rx).1 {
        Event::Accept(conn) => {
          plain_server = Some(conn.clone());
          assert_eq!(conn.write(b"HELLO plain\r\n"), 13);
        }
        Event::Open(conn) => conn.request(Request::StartTls),
        Event::Handshake(result) => outcome = Some(result),
        _ => {}
      }
    }
    let outcome = outcome.unwrap();
    assert!(!outcome.success);
    assert_eq!(code(&outcome), Some("EPROTO"));
    drop(plain_server);
    listener.stop();
  }

  /// The reference async rustls client (tokio-rustls) against a listener of ours.
  #[test]
  fn a_tokio_rustls_client_talks_to_our_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (sink, rx) = sink();
    let (listener, port) = listen_tls(&sink, Some(server_tls("server")));
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs("ca.pem") {
      roots.add(CertificateDer::from(cert)).unwrap();
    }
    let client =
      rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // On a thread of its own: nothing drives a runtime while this thread waits for events.
    let talk = std::thread::spawn(move || {
      let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
      runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(client))
          .connect(name, tcp)
          .await
          .unwrap();
        tls.write_all(b"ping").await.unwrap();
        let mut reply = [0u8; 4];
        tls.read_exact(&mut reply).await.unwrap();
        reply
      })
    });
    let mut server = None;
    loop {
      match next(&rx).1 {
        Event::Accept(conn) => server = Some(conn),
        Event::Handshake(outcome) => assert!(outcome.success),
        Event::Data(chunk, _) => {
          assert_eq!(chunk, b"ping");
          assert_eq!(server.as_ref().unwrap().write(b"pong"), 4);
          break;
        }
        other => panic!("unexpected {}", name_of(&other)),
      }
    }
    assert_eq!(&talk.join().unwrap(), b"pong");
    listener.stop();
  }

  /// Upgrades every plain connection it hears of, from inside `emit` (as JS may, on the JS
  /// thread, before the I/O thread goes on past the `emit` that reported the connection).
  struct UpgradeAtOnce {
    inner: Arc<dyn EventSink>,
    server: Arc<ServerTls>,
    client: Arc<ClientTls>,
  }

  impl EventSink for UpgradeAtOnce {
    fn emit(&self, id: HandleId, event: Event) -> bool {
      match &event {
        Event::Accept(conn) => {
          assert!(conn.upgrade_tls(Box::new(Secure::server(self.server.clone()).unwrap()), None));
        }
        Event::Open(conn) => {
          let name = ServerName::try_from("localhost").unwrap();
          assert!(conn.upgrade_tls(Box::new(Secure::client(self.client.clone(), name, true)), None));
          conn.request(Request::StartTls);
        }
        _ => {}
      }
      self.inner.emit(id, event)
    }
  }

  #[test]
  fn a_connection_upgraded_as_soon_as_it_is_reported_gets_one_tls_task() {
    let (inner, rx) = sink();
    let sink: Arc<dyn EventSink> = Arc::new(UpgradeAtOnce {
      inner,
      server: server_tls("server"),
      client: Arc::new(ClientTls::new(&client_options(true)).unwrap()),
    });
    let (_listener, port) = listen(&sink);
    let client_id = next_id();
    Conn::connect(client_id, sink, loopback(port), None);
    // A second task would find the descriptor registered already (EEXIST) and close.
    let mut handshakes = 0;
    while handshakes < 2 {
      match next(&rx).1 {
        Event::Handshake(outcome) => {
          assert!(outcome.success);
          handshakes += 1;
        }
        Event::Close(err) => panic!("closed: {err:?}"),
        _ => {}
      }
    }
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
