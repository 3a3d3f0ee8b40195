//! UDP sockets: batches, errors from the error queue, close.

use std::net::SocketAddr;

use super::*;
use crate::net::udp::{Udp, UdpConfig, UdpTarget};

fn bind(sink: &Arc<dyn EventSink>, port: u16) -> Arc<Udp> {
  bind_connected(sink, port, None)
}

fn bind_connected(sink: &Arc<dyn EventSink>, port: u16, connect: Option<SocketAddr>) -> Arc<Udp> {
  let config = UdpConfig {
    bind: SocketAddr::from(([127, 0, 0, 1], port)),
    connect,
  };
  Udp::bind(next_id(), sink.clone(), &config).unwrap()
}

/// An address where nothing listens any more: a datagram there comes back as ICMP unreachable.
fn dead_address(sink: &Arc<dyn EventSink>) -> SocketAddr {
  let gone = bind(sink, 0);
  let dead = gone.local_addr().unwrap();
  gone.close();
  dead
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
  let dead = dead_address(&sink);
  let udp = bind(&sink, 0);
  assert!(matches!(udp.send(b"anyone?", Some(dead)), Ok(true)));
  expect_error(&rx, "ECONNREFUSED");
  udp.close();
}

/// A connected socket gets ICMP errors everywhere: from the error queue on Linux, as the
/// socket's own error (a failed read, SO_ERROR) with the portable fallbacks.
#[test]
fn port_unreachable_on_a_connected_socket_is_reported() {
  let (sink, rx) = sink();
  let dead = dead_address(&sink);
  let udp = bind_connected(&sink, 0, Some(dead));
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

#[test]
fn a_name_resolves_off_the_calling_thread_then_the_socket_is_bound() {
  let (sink, rx) = sink();
  let id = next_id();
  let target = UdpTarget {
    host: "localhost".to_owned(),
    port: 0,
    connect: Some(("localhost".to_owned(), 9)),
  };
  assert!(target.literal().is_none());
  Udp::resolve_then_bind(id, sink, target);
  let (from, event) = next(&rx);
  assert_eq!(from, id);
  let Event::Bound(udp) = event else {
    panic!("expected bound, got {}", name(&event))
  };
  assert!(udp.local_addr().unwrap().ip().is_loopback());
  assert_eq!(udp.peer_addr().unwrap().port(), 9);
  // The receive loop starts after `Bound`: its first `drain` follows.
  assert!(matches!(next(&rx), (i, Event::Drain) if i == id));
  udp.close();
}

#[test]
fn an_ipv6_multicast_interface_is_set_by_its_index() {
  use crate::net::udp::{Interface, UdpOption};
  let (sink, _rx) = sink();
  let config = UdpConfig {
    bind: "[::1]:0".parse().unwrap(),
    connect: None,
  };
  let Ok(udp) = Udp::bind(next_id(), sink, &config) else {
    return; // no IPv6 on this machine
  };
  let interface = |index| Interface {
    ip: "::1".parse().unwrap(),
    index,
  };
  // SAFETY: the socket stays open until `udp` is closed below.
  let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(udp.fd()) };
  let sock = socket2::SockRef::from(&fd);
  udp
    .set_option(UdpOption::MulticastInterface(interface(1)))
    .unwrap();
  assert_eq!(sock.multicast_if_v6().unwrap(), 1);
  udp
    .set_option(UdpOption::MulticastInterface(interface(0)))
    .unwrap();
  assert_eq!(sock.multicast_if_v6().unwrap(), 0);
  udp.close();
}
