//! TLS over the core: handshakes, credit, sessions, hooks, a tokio-rustls peer.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use super::*;
use crate::net::secure::{KeyingError, Secure};
use crate::net::tls::{
  AlpnChoice, Answer, ClientTls, HandshakeOutcome, Hooks, ServerTls, TlsNote, TlsOptions, VerifyMode,
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
  let payload = pattern(4 * 1024 * 1024);
  let sender = send_all(&pair.client, &payload);
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
  server.set_hooks(Hooks {
    always: true,
    ..Hooks::default()
  });
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
