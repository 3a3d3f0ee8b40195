//! Socket setup: bind and listen (synchronous, on the JS thread), connect (on the I/O thread).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use socket2::{Domain, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::UnixStream;

use crate::error::{ErrorTarget, SocketError, Syscall};
use crate::net::addr::{self, Target};
use crate::net::conn::Kind;

/// Node's and Bun's listen backlog.
const BACKLOG: i32 = 511;

/// What `listen()` needs to bind.
#[derive(Debug, Clone)]
pub struct ListenConfig {
  pub target: Target,
  /// Share the port with other listeners that set it too (SO_REUSEPORT): Bun's `reusePort`
  /// without `exclusive`.
  pub reuse_port: bool,
  /// An IPv6 listener accepts IPv6 only (IPV6_V6ONLY); otherwise "::" takes IPv4 too, as in
  /// Node and Bun.
  pub ipv6_only: bool,
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
        match bind_tcp(addr, config) {
          Ok(listener) => return Ok(BoundListener::Tcp(listener)),
          Err(err) => last = Some(err),
        }
      }
      Err(last.unwrap_or_else(|| SocketError::not_found(host)))
    }
    Target::Unix(path) => bind_unix(path).map(BoundListener::Unix),
  }
}

fn bind_tcp(addr: SocketAddr, config: &ListenConfig) -> Result<std::net::TcpListener, SocketError> {
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
  if config.reuse_port {
    socket
      .set_reuse_port(true)
      .map_err(|e| fail(Syscall::Listen, e))?;
  }
  if addr.is_ipv6() {
    // "::" takes IPv4 too unless asked not to. Only asking may fail: OpenBSD has no dual
    // stack and refuses IPV6_V6ONLY=0.
    match socket.set_only_v6(config.ipv6_only) {
      Err(e) if config.ipv6_only => return Err(fail(Syscall::Listen, e)),
      _ => {}
    }
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
  let listener = match unix_name(path) {
    Ok(UnixName::Path) => std::os::unix::net::UnixListener::bind(path),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Ok(UnixName::Abstract) => bind_unix_addr(path),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    Ok(UnixName::Long { dir, proxy }) => {
      let bound = bind_unix_addr(&proxy);
      drop(dir);
      bound
    }
    Err(err) => Err(err),
  }
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
        match connect_tcp(addr).await {
          Ok(socket) => return Ok((socket, Kind::Tcp)),
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
      let connected = async { connect_unix(path).await?.into_std() };
      connected
        .await
        .map(|stream| (Socket::from(stream), Kind::Unix))
        .map_err(|err| SocketError::os(Syscall::Connect, &err, target.error_target()))
    }
  }
}

/// connect({ fd }): a non-blocking, close-on-exec duplicate of `fd` when it is a connected
/// stream socket; None otherwise (not a socket, not connected, closed). The duplicate shares
/// the caller's open file description: the caller's descriptor becomes non-blocking too.
pub fn adopt(fd: RawFd) -> Option<(Socket, Kind)> {
  if fd < 0 {
    return None;
  }
  // SAFETY: F_DUPFD_CLOEXEC on any integer fails cleanly (EBADF) when it is no descriptor.
  let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
  if dup < 0 {
    return None;
  }
  // SAFETY: `dup` is a new descriptor nothing else owns.
  let socket = unsafe { Socket::from_raw_fd(dup) };
  if socket.r#type().ok()? != Type::STREAM {
    return None;
  }
  let peer = socket.peer_addr().ok()?;
  socket.set_nonblocking(true).ok()?;
  let kind = if peer.is_unix() { Kind::Unix } else { Kind::Tcp };
  Some((socket, kind))
}

/// A non-blocking connect. Over loopback the handshake is usually done by the time connect(2)
/// returns: then the socket is taken at once, without registering it with tokio only to wait
/// for a writability that is already there.
async fn connect_tcp(addr: SocketAddr) -> io::Result<Socket> {
  let socket = stream_socket(Domain::for_address(addr))?;
  socket.set_tcp_nodelay(true)?;
  match socket.connect(&addr.into()) {
    Ok(()) => return Ok(socket),
    Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
    Err(err) => return Err(err),
  }
  // Done (connected or failed) at once: no registration.
  if crate::net::poll_writable(socket.as_raw_fd()).is_none() {
    // SAFETY: `socket` owns its descriptor; `AsyncFd` hands it back before it closes.
    let registered = unsafe { AsyncFd::register_with_interest(socket, Interest::WRITABLE) };
    let async_fd = registered.map_err(io::Error::from)?;
    let _ = async_fd.writable().await?;
    let socket = async_fd.into_inner();
    return match socket.take_error()? {
      Some(err) => Err(err),
      None => Ok(socket),
    };
  }
  match socket.take_error()? {
    Some(err) => Err(err),
    None => Ok(socket),
  }
}

/// A non-blocking, close-on-exec stream socket, in one call.
#[cfg(all(
  any(target_os = "linux", target_os = "android"),
  not(feature = "portable-fallbacks")
))]
fn stream_socket(domain: Domain) -> io::Result<Socket> {
  Socket::new(domain, Type::STREAM.nonblocking().cloexec(), None)
}

/// A stream socket made non-blocking by a second call, where SOCK_NONBLOCK is missing (and on
/// Linux with the `portable-fallbacks` feature). socket2 sets close-on-exec, and on Apple's
/// systems SO_NOSIGPIPE.
#[cfg(any(
  not(any(target_os = "linux", target_os = "android")),
  feature = "portable-fallbacks"
))]
fn stream_socket(domain: Domain) -> io::Result<Socket> {
  let socket = Socket::new(domain, Type::STREAM, None)?;
  socket.set_nonblocking(true)?;
  Ok(socket)
}

async fn connect_unix(path: &Path) -> io::Result<UnixStream> {
  match unix_name(path)? {
    UnixName::Path => UnixStream::connect(path).await,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    UnixName::Abstract => connect_unix_addr(path),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    UnixName::Long { dir, proxy } => {
      let connected = connect_unix_addr(&proxy);
      drop(dir);
      connected
    }
  }
}

/// How a unix socket path reaches the kernel. sun_path holds 108 bytes on Linux (104 on macOS
/// and the BSDs). On Linux a longer path goes through `/proc/self/fd/<its directory>/<its
/// name>` while the directory is held open, as Bun does, and a leading NUL names an abstract
/// socket, which is no file. Elsewhere both fail: ENAMETOOLONG and EINVAL.
enum UnixName {
  Path,
  #[cfg(any(target_os = "linux", target_os = "android"))]
  Abstract,
  #[cfg(any(target_os = "linux", target_os = "android"))]
  Long {
    dir: std::os::fd::OwnedFd,
    proxy: std::path::PathBuf,
  },
}

const SUN_PATH_LEN: usize =
  std::mem::size_of::<libc::sockaddr_un>() - std::mem::offset_of!(libc::sockaddr_un, sun_path);

#[cfg(any(target_os = "linux", target_os = "android"))]
fn unix_name(path: &Path) -> io::Result<UnixName> {
  use std::fs::OpenOptions;
  use std::os::unix::fs::OpenOptionsExt;

  let bytes = path.as_os_str().as_bytes();
  if bytes.first() == Some(&0) {
    return Ok(UnixName::Abstract);
  }
  if bytes.len() < SUN_PATH_LEN {
    return Ok(UnixName::Path);
  }
  // Bun answers EINVAL when the directory cannot be opened or the name alone is too long.
  let einval = || io::Error::from_raw_os_error(libc::EINVAL);
  let name = path.file_name().ok_or_else(einval)?;
  let dir = match path.parent() {
    Some(dir) if !dir.as_os_str().is_empty() => dir,
    _ => Path::new("."),
  };
  let dir: std::os::fd::OwnedFd = OpenOptions::new()
    .read(true)
    .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
    .open(dir)
    .map_err(|_| einval())?
    .into();
  let proxy = Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
  if proxy.as_os_str().len() >= SUN_PATH_LEN {
    return Err(einval());
  }
  Ok(UnixName::Long { dir, proxy })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn unix_name(path: &Path) -> io::Result<UnixName> {
  let bytes = path.as_os_str().as_bytes();
  if bytes.first() == Some(&0) {
    return Err(io::Error::from_raw_os_error(libc::EINVAL));
  }
  if bytes.len() >= SUN_PATH_LEN {
    return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
  }
  Ok(UnixName::Path)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn unix_addr(path: &Path) -> io::Result<socket2::SockAddr> {
  // Too long for sun_path (an abstract name of 108 bytes or more): Bun's EINVAL.
  socket2::SockAddr::unix(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn bind_unix_addr(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
  let addr = unix_addr(path)?;
  let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
  socket.bind(&addr)?;
  socket.listen(BACKLOG)?;
  Ok(socket.into())
}

/// A unix socket connects at once or fails (EAGAIN when the listener's backlog is full), as
/// tokio's own connect does: the connect(2) never waits.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn connect_unix_addr(path: &Path) -> io::Result<UnixStream> {
  let addr = unix_addr(path)?;
  let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
  socket.set_nonblocking(true)?;
  socket.connect(&addr)?;
  UnixStream::from_std(socket.into())
}
