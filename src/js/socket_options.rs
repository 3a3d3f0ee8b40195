//! Socket options of `NativeSocket` that the connection core does not need: Bun's
//! `setTypeOfService()` / `getTypeOfService()`. JS thread only; the options are set on the
//! descriptor directly, as Bun does (IP_TOS, IPV6_TCLASS on an IPv6 socket).

use std::io;

use napi_derive::napi;
use socket2::{Domain, SockRef};

use crate::js::socket::NativeSocket;

#[napi]
impl NativeSocket {
  /// Sets the type of service (0..=255, checked by `lib/`): 0, or -errno as Bun returns it
  /// (EBADF once closed, EINVAL on a unix socket).
  #[napi(catch_unwind)]
  pub fn set_type_of_service(&self, tos: u32) -> i32 {
    self
      .with_ip_socket(|sock, domain| match domain {
        Domain::IPV6 => sock.set_tclass_v6(tos),
        _ => sock.set_tos_v4(tos),
      })
      .map_or_else(negative_errno, |()| 0)
  }

  /// The type of service, or -errno as `set_type_of_service`.
  #[napi(catch_unwind)]
  pub fn type_of_service(&self) -> i32 {
    self
      .with_ip_socket(|sock, domain| match domain {
        Domain::IPV6 => sock.tclass_v6(),
        _ => sock.tos_v4(),
      })
      .map_or_else(negative_errno, |tos| tos as i32)
  }

  fn with_ip_socket<T>(&self, f: impl FnOnce(SockRef<'_>, Domain) -> io::Result<T>) -> io::Result<T> {
    let ebadf = || io::Error::from_raw_os_error(libc::EBADF);
    let conn = self.conn().filter(|conn| !conn.is_closed()).ok_or_else(ebadf)?;
    // Under the connection's lock: its TLS task cannot close the descriptor meanwhile.
    conn
      .with_socket(|sock| {
        let sock = SockRef::from(sock);
        match sock.domain()? {
          domain @ (Domain::IPV4 | Domain::IPV6) => f(sock, domain),
          _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        }
      })
      .unwrap_or_else(|| Err(ebadf()))
  }
}

fn negative_errno(err: io::Error) -> i32 {
  -err.raw_os_error().unwrap_or(libc::EINVAL)
}
