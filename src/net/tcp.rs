//! Socket setup: bind and listen (synchronous, on the JS thread), connect (on the I/O thread).

use std::io;
use std::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, Socket, Type};
use tokio::net::{TcpStream, UnixStream};

use crate::error::{ErrorTarget, SocketError, Syscall};
use crate::net::addr::{self, Target};
use crate::net::conn::Kind;

/// Node's and Bun's listen backlog.
const BACKLOG: i32 = 511;

/// What `listen()` needs to bind.
#[derive(Debug, Clone)]
pub struct ListenConfig {
  pub target: Target,
  /// Refuse to share the port with another listener (no SO_REUSEPORT).
  pub exclusive: bool,
}

/// A bound, listening socket, not yet registered with the runtime.
pub enum BoundListener {
  Tcp(std::net::TcpListener),
  Unix(std::os::unix::net::UnixListener),
}

/// Binds and listens now, so the caller learns the port (or the failure) synchronously.
pub fn bind(config: &ListenConfig) -> Result<BoundListener, SocketError> {
  match &config.target {
    Target::Tcp { host, port } => {
      let addrs = addr::resolve_blocking(host, *port)?;
      let mut last = None;
      for addr in addrs {
        match bind_tcp(addr, config.exclusive) {
          Ok(listener) => return Ok(BoundListener::Tcp(listener)),
          Err(err) => last = Some(err),
        }
      }
      Err(last.unwrap_or_else(|| SocketError::not_found(host)))
    }
    Target::Unix(path) => bind_unix(path).map(BoundListener::Unix),
  }
}

fn bind_tcp(addr: SocketAddr, exclusive: bool) -> Result<std::net::TcpListener, SocketError> {
  let target = ErrorTarget {
    address: Some(addr.ip().to_string()),
    port: Some(addr.port()),
  };
  let fail = |syscall, err: io::Error| SocketError::os(syscall, &err, target.clone());
  let socket =
    Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(|e| fail(Syscall::Listen, e))?;
  // As Node and Bun: a restarted server may rebind a port in TIME_WAIT.
  socket
    .set_reuse_address(true)
    .map_err(|e| fail(Syscall::Listen, e))?;
  if !exclusive {
    let _ = socket.set_reuse_port(false);
  }
  if addr.is_ipv6() {
    // "::" accepts IPv4 too, as in Node and Bun.
    let _ = socket.set_only_v6(false);
  }
  socket
    .set_nonblocking(true)
    .map_err(|e| fail(Syscall::Listen, e))?;
  socket.bind(&addr.into()).map_err(|e| fail(Syscall::Listen, e))?;
  socket.listen(BACKLOG).map_err(|e| fail(Syscall::Listen, e))?;
  Ok(socket.into())
}

fn bind_unix(path: &Path) -> Result<std::os::unix::net::UnixListener, SocketError> {
  let target = ErrorTarget {
    address: Some(path.display().to_string()),
    port: None,
  };
  let listener = std::os::unix::net::UnixListener::bind(path)
    .map_err(|err| SocketError::os(Syscall::Listen, &err, target.clone()))?;
  listener
    .set_nonblocking(true)
    .map_err(|err| SocketError::os(Syscall::Listen, &err, target))?;
  Ok(listener)
}

/// Connects to the first address of `target` that answers. The socket comes back non-blocking
/// and not registered with tokio: its reader registers it.
pub async fn connect(target: &Target) -> Result<(Socket, Kind), SocketError> {
  match target {
    Target::Tcp { host, port } => {
      let addrs = addr::resolve(host, *port).await?;
      let mut last = None;
      for addr in addrs {
        let target = ErrorTarget {
          address: Some(addr.ip().to_string()),
          port: Some(addr.port()),
        };
        let connected = async {
          let stream = TcpStream::connect(addr).await?;
          stream.set_nodelay(true)?;
          stream.into_std()
        };
        match connected.await {
          Ok(stream) => return Ok((Socket::from(stream), Kind::Tcp)),
          Err(err) => {
            let err = SocketError::os(Syscall::Connect, &err, target);
            // Reset after the handshake: the connection existed; no other address is tried.
            if err.code() == "ECONNRESET" {
              return Err(err);
            }
            last = Some(err);
          }
        }
      }
      Err(last.unwrap_or_else(|| SocketError::not_found(host)))
    }
    Target::Unix(path) => {
      let connected = async { UnixStream::connect(path).await?.into_std() };
      connected
        .await
        .map(|stream| (Socket::from(stream), Kind::Unix))
        .map_err(|err| SocketError::os(Syscall::Connect, &err, target.error_target()))
    }
  }
}
