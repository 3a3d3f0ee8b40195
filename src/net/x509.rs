//! What the certificate checks need from an X.509 certificate that webpki does not expose: its
//! names (subject CN, subjectAltName), whether it issued itself, and its validity period.
//!
//! A small DER reader over peer input: every read is bounds-checked and a malformed
//! certificate parses as `None`, never a panic. Runs wherever a certificate is verified (the
//! I/O thread in a handshake, the JS thread after one).

use std::net::IpAddr;

/// The parts of a certificate the identity and trust checks read.
pub struct CertInfo<'a> {
  /// DER of the issuer and subject Names, compared byte for byte as OpenSSL does first.
  issuer: &'a [u8],
  subject: &'a [u8],
  /// Seconds since the epoch.
  pub not_before: i64,
  pub not_after: i64,
  /// Every commonName of the subject, in order.
  pub common_names: Vec<String>,
  /// subjectAltName dNSName and iPAddress entries.
  pub dns_names: Vec<String>,
  pub ips: Vec<IpAddr>,
  /// keyUsage bits as the BIT STRING lists them (bit 0 = digitalSignature is 0x8000).
  key_usage: Option<u16>,
  subject_key_id: Option<&'a [u8]>,
  authority_key_id: Option<&'a [u8]>,
}

impl<'a> CertInfo<'a> {
  /// Parses a DER certificate; `None` when it is not one.
  pub fn parse(der: &'a [u8]) -> Option<CertInfo<'a>> {
    let mut cert = Reader::new(der).expect(SEQUENCE)?;
    let mut tbs = cert.expect(SEQUENCE)?;
    if tbs.peek() == Some(VERSION) {
      tbs.any()?;
    }
    tbs.expect(INTEGER)?; // serialNumber
    tbs.expect(SEQUENCE)?; // signature algorithm
    let issuer = tbs.raw(SEQUENCE)?;
    let mut validity = tbs.expect(SEQUENCE)?;
    let not_before = validity.time()?;
    let not_after = validity.time()?;
    let subject = tbs.raw(SEQUENCE)?;
    tbs.expect(SEQUENCE)?; // subjectPublicKeyInfo
    let mut info = CertInfo {
      issuer,
      subject,
      not_before,
      not_after,
      common_names: common_names(subject)?,
      dns_names: Vec::new(),
      ips: Vec::new(),
      key_usage: None,
      subject_key_id: None,
      authority_key_id: None,
    };
    while let Some((tag, body)) = tbs.any() {
      if tag == EXTENSIONS {
        info.read_extensions(body)?;
      }
    }
    Some(info)
  }

  /// Issuer and subject are the same name.
  pub fn is_self_issued(&self) -> bool {
    self.issuer == self.subject
  }

  /// OpenSSL's test that a certificate issued itself (X509_check_issued on itself): the same
  /// name, a keyUsage that allows signing certificates if there is one, and an authority key
  /// id naming its own key if there are both.
  pub fn is_self_signed(&self) -> bool {
    const KEY_CERT_SIGN: u16 = 0x0400;
    let key_ids_match = match (self.authority_key_id, self.subject_key_id) {
      (Some(authority), Some(subject)) => authority == subject,
      _ => true,
    };
    self.is_self_issued() && self.key_usage.is_none_or(|bits| bits & KEY_CERT_SIGN != 0) && key_ids_match
  }

  /// Node's `tls.checkServerIdentity`, which Bun follows: an IP host must be one of the
  /// iPAddress names; a DNS host must match a dNSName, or the subject CN when there is none.
  pub fn is_valid_for(&self, host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if let Ok(ip) = host.parse::<IpAddr>() {
      return self.ips.contains(&ip);
    }
    let host_parts = split_host(host);
    let patterns = if self.dns_names.is_empty() {
      &self.common_names
    } else {
      &self.dns_names
    };
    patterns.iter().any(|pattern| matches_host(&host_parts, pattern))
  }

  fn read_extensions(&mut self, body: &'a [u8]) -> Option<()> {
    let mut list = Reader::new(body).expect(SEQUENCE)?;
    while !list.is_empty() {
      let mut extension = list.expect(SEQUENCE)?;
      let oid = extension.body(OID)?;
      if extension.peek() == Some(BOOLEAN) {
        extension.any()?;
      }
      let value = extension.body(OCTET_STRING)?;
      match oid {
        OID_SUBJECT_ALT_NAME => self.read_alt_names(value)?,
        OID_KEY_USAGE => {
          let bits = Reader::new(value).body(BIT_STRING)?;
          let first = bits.get(1).copied().unwrap_or(0);
          let second = bits.get(2).copied().unwrap_or(0);
          self.key_usage = Some(u16::from_be_bytes([first, second]));
        }
        OID_SUBJECT_KEY_ID => self.subject_key_id = Some(Reader::new(value).body(OCTET_STRING)?),
        OID_AUTHORITY_KEY_ID => {
          let mut aki = Reader::new(value).expect(SEQUENCE)?;
          while let Some((tag, id)) = aki.any() {
            if tag == KEY_IDENTIFIER {
              self.authority_key_id = Some(id);
            }
          }
        }
        _ => {}
      }
    }
    Some(())
  }

  fn read_alt_names(&mut self, value: &'a [u8]) -> Option<()> {
    let mut names = Reader::new(value).expect(SEQUENCE)?;
    while let Some((tag, name)) = names.any() {
      match tag {
        DNS_NAME => self.dns_names.push(String::from_utf8_lossy(name).into_owned()),
        IP_ADDRESS => {
          if let Ok(v4) = <[u8; 4]>::try_from(name) {
            self.ips.push(IpAddr::from(v4));
          } else if let Ok(v6) = <[u8; 16]>::try_from(name) {
            self.ips.push(IpAddr::from(v6));
          }
        }
        _ => {}
      }
    }
    Some(())
  }
}

/// A host name's labels, lowercased (ASCII only, as Node does) and without a trailing dot.
fn split_host(host: &str) -> Vec<String> {
  let host = host.strip_suffix('.').unwrap_or(host);
  host.to_ascii_lowercase().split('.').map(str::to_owned).collect()
}

/// Node's `check(hostParts, pattern, wildcards = true)`: the same number of labels, the rest
/// equal, and at most one `*` in the first label of a pattern with at least three labels.
fn matches_host(host: &[String], pattern: &str) -> bool {
  if pattern.is_empty() {
    return false;
  }
  let pattern = split_host(pattern);
  if pattern.len() != host.len() || pattern.iter().any(String::is_empty) {
    return false;
  }
  // Non-ASCII (U-labels), control characters and blanks never match.
  if pattern
    .iter()
    .any(|part| part.chars().any(|c| !('\u{21}'..='\u{7f}').contains(&c)))
  {
    return false;
  }
  if host[1..] != pattern[1..] {
    return false;
  }
  let (host_first, pattern_first) = (&host[0], &pattern[0]);
  let pieces: Vec<&str> = pattern_first.split('*').collect();
  if pieces.len() == 1 || pattern_first.contains("xn--") {
    return host_first == pattern_first;
  }
  if pieces.len() > 2 || pattern.len() <= 2 {
    return false;
  }
  let (prefix, suffix) = (pieces[0], pieces[1]);
  prefix.len() + suffix.len() <= host_first.len()
    && host_first.starts_with(prefix)
    && host_first.ends_with(suffix)
}

/// Every commonName value of a Name, in order.
fn common_names(name: &[u8]) -> Option<Vec<String>> {
  let mut out = Vec::new();
  let mut rdns = Reader::new(name).expect(SEQUENCE)?;
  while !rdns.is_empty() {
    let mut set = rdns.expect(SET)?;
    while !set.is_empty() {
      let mut attribute = set.expect(SEQUENCE)?;
      let oid = attribute.body(OID)?;
      let (tag, value) = attribute.any()?;
      if oid == OID_COMMON_NAME {
        out.push(string_value(tag, value));
      }
    }
  }
  Some(out)
}

/// A directory string as text: BMPString is UTF-16, the rest are read as UTF-8.
fn string_value(tag: u8, value: &[u8]) -> String {
  const BMP_STRING: u8 = 0x1e;
  if tag == BMP_STRING {
    let units: Vec<u16> = value
      .chunks_exact(2)
      .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
      .collect();
    return String::from_utf16_lossy(&units);
  }
  String::from_utf8_lossy(value).into_owned()
}

const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const VERSION: u8 = 0xa0;
const EXTENSIONS: u8 = 0xa3;
const KEY_IDENTIFIER: u8 = 0x80;
const DNS_NAME: u8 = 0x82;
const IP_ADDRESS: u8 = 0x87;

const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const OID_AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];

/// Reads DER elements one after the other from a slice.
struct Reader<'a> {
  rest: &'a [u8],
}

impl<'a> Reader<'a> {
  fn new(input: &'a [u8]) -> Reader<'a> {
    Reader { rest: input }
  }

  fn is_empty(&self) -> bool {
    self.rest.is_empty()
  }

  fn peek(&self) -> Option<u8> {
    self.rest.first().copied()
  }

  /// The next element's tag and body; `None` at the end or on malformed input.
  fn any(&mut self) -> Option<(u8, &'a [u8])> {
    let (tag, header, len) = self.header()?;
    let body = self.rest.get(header..header.checked_add(len)?)?;
    self.rest = &self.rest[header + len..];
    Some((tag, body))
  }

  /// A reader over the next element's body, which must carry `tag`.
  fn expect(&mut self, tag: u8) -> Option<Reader<'a>> {
    self.body(tag).map(Reader::new)
  }

  /// The next element's body, which must carry `tag`.
  fn body(&mut self, tag: u8) -> Option<&'a [u8]> {
    let (found, body) = self.any()?;
    (found == tag).then_some(body)
  }

  /// The next element whole (header included), which must carry `tag`.
  fn raw(&mut self, tag: u8) -> Option<&'a [u8]> {
    let (found, header, len) = self.header()?;
    let whole = self.rest.get(..header.checked_add(len)?)?;
    self.rest = &self.rest[whole.len()..];
    (found == tag).then_some(whole)
  }

  fn header(&self) -> Option<(u8, usize, usize)> {
    let tag = *self.rest.first()?;
    let first = *self.rest.get(1)?;
    if first < 0x80 {
      return Some((tag, 2, usize::from(first)));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
      return None;
    }
    let bytes = self.rest.get(2..2 + count)?;
    let len = bytes
      .iter()
      .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
    Some((tag, 2 + count, len))
  }

  /// A UTCTime or GeneralizedTime ("…Z") as seconds since the epoch.
  fn time(&mut self) -> Option<i64> {
    let (tag, body) = self.any()?;
    let text = std::str::from_utf8(body).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
      UTC_TIME => {
        let yy: i64 = text.get(..2)?.parse().ok()?;
        (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
      }
      GENERALIZED_TIME => (text.get(..4)?.parse().ok()?, text.get(4..)?),
      _ => return None,
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
      return None;
    }
    let field = |at: usize| rest[at..at + 2].parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
  }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
  let year = if month <= 2 { year - 1 } else { year };
  let era = year.div_euclid(400);
  let year_of_era = year - era * 400;
  let month_index = (month + 9) % 12;
  let day_of_year = (153 * month_index + 2) / 5 + day - 1;
  let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
  use super::*;
  use rustls::pki_types::pem::PemObject;
  use rustls::pki_types::CertificateDer;

  fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
      .join("__test__/fixtures/certs")
      .join(name);
    CertificateDer::from_pem_file(path)
      .expect("fixture certificate")
      .to_vec()
  }

  #[test]
  fn fixtures_parse() {
    let der = fixture("server.pem");
    let server = CertInfo::parse(&der).unwrap();
    assert_eq!(server.common_names, ["localhost"]);
    assert_eq!(server.dns_names, ["localhost"]);
    assert_eq!(
      server.ips,
      ["127.0.0.1".parse::<IpAddr>().unwrap(), "::1".parse().unwrap()]
    );
    assert_eq!(
      (server.not_before, server.not_after),
      (1_577_836_800, 4_733_510_400)
    );
    assert!(!server.is_self_issued());
    assert!(
      server.is_valid_for("localhost") && server.is_valid_for("::1") && !server.is_valid_for("127.0.0.2")
    );

    let der = fixture("cn-only.pem");
    let cn_only = CertInfo::parse(&der).unwrap();
    assert!(cn_only.dns_names.is_empty() && cn_only.ips.is_empty());
    assert!(cn_only.is_valid_for("cn-only.test") && !cn_only.is_valid_for("localhost"));
    assert!(!cn_only.is_valid_for("127.0.0.1"));

    let der = fixture("self-signed-ca.pem");
    assert!(CertInfo::parse(&der).unwrap().is_self_signed());
    // Its keyUsage lacks keyCertSign: it names its issuer, but cannot have signed itself.
    let der = fixture("self-signed.pem");
    let leaf = CertInfo::parse(&der).unwrap();
    assert!(leaf.is_self_issued() && !leaf.is_self_signed());
  }

  #[test]
  fn dates_count_from_the_epoch() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(days_from_civil(2120, 1, 1) * 86_400, 4_733_510_400);
  }

  #[test]
  fn host_patterns_match_as_in_node() {
    let host = |name: &str| split_host(name);
    assert!(matches_host(&host("a.example.com"), "*.example.com"));
    assert!(matches_host(&host("A.Example.COM."), "*.example.com"));
    assert!(matches_host(&host("foo-a.example.com"), "foo-*.example.com"));
    assert!(!matches_host(&host("example.com"), "*.example.com"));
    assert!(!matches_host(&host("a.b.example.com"), "*.example.com"));
    assert!(!matches_host(&host("a.com"), "*.com"));
    assert!(!matches_host(&host("a.example.com"), "*.*.com"));
    assert!(!matches_host(&host("a.example.com"), "a..com"));
    assert!(!matches_host(&host("xn--a.example.com"), "xn--*.example.com"));
    assert!(matches_host(&host("localhost"), "LOCALHOST"));
    assert!(!matches_host(&host("localhost"), ""));
  }

  #[test]
  fn malformed_input_is_none() {
    for bad in [
      &[][..],
      &[0x30],
      &[0x30, 0x85, 1, 2, 3, 4, 5],
      &[0x30, 0x02, 0x30, 0x80],
      &[0x02, 0x00],
    ] {
      assert!(CertInfo::parse(bad).is_none());
    }
  }
}
