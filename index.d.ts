// Public typings of bun-sockets: Bun's socket API (Bun 1.4.4 shapes, TLS included) for Node.js.
// Self-contained: no dependency on bun-types. Signatures follow bun-types@1.4.4 so that each export
// is assignable to its `typeof Bun.…` (checked by scripts/check-package.sh); where Bun's declared
// type and Bun's behaviour differ, the doc comment says what a call returns.

/// <reference types="node" />

import type { X509Certificate } from 'node:crypto'
import type { CipherNameAndProtocol, EphemeralKeyInfo, PeerCertificate } from 'node:tls'

export interface BinaryTypeList {
  arraybuffer: ArrayBuffer
  buffer: Buffer
  uint8array: Uint8Array<ArrayBuffer>
}
export type BinaryType = keyof BinaryTypeList

/** Anything `write()` accepts besides strings. */
export type BufferSource = NodeJS.TypedArray | DataView | ArrayBufferLike

/** What `Bun.file(path)` returns, as TLS options read it: a Blob that names its file. */
export interface BunFile extends Blob {
  readonly name?: string
}

/** A PEM (or a list of them) for `key`, `cert`, `ca`, `crl`. */
export type TLSFileInput = string | BufferSource | BunFile | Array<string | BufferSource | BunFile>

/**
 * The `tls` option. Without a `key`/`cert`, `ca`, `serverName` or `rejectUnauthorized`, `tls: {}`
 * means plain TCP, as in Bun; `tls: true` asks for TLS with the defaults.
 */
export interface TLSOptions {
  /** Decrypts an encrypted `key`. */
  passphrase?: string
  /** Path to a PEM file of Diffie-Hellman parameters. */
  dhParamsFile?: string
  /** The name sent as SNI and checked against the server's certificate; `''` sends no SNI. */
  serverName?: string
  /** Node's spelling of `serverName`; `serverName` wins if both are set. */
  servername?: string
  lowMemoryMode?: boolean
  /** Refuse a peer whose certificate does not verify. Default `true`. */
  rejectUnauthorized?: boolean
  /** Server: ask the client for a certificate. Default `false`. */
  requestCert?: boolean
  /** Trusted CAs, replacing the default roots. */
  ca?: TLSFileInput | undefined
  /** Certificate revocation lists (PEM). */
  crl?: TLSFileInput | undefined
  /** Certificate chain(s) in PEM, leaf first. */
  cert?: TLSFileInput | undefined
  /** Private key(s) in PEM, possibly encrypted (see `passphrase`). */
  key?: TLSFileInput | undefined
  /** Path of a PEM file read for `key`. */
  keyFile?: string
  /** Path of a PEM file read for `cert`. */
  certFile?: string
  /** Path of a PEM file read for `ca`. */
  caFile?: string
  /** Bitmask of OpenSSL `SSL_OP_*` options. */
  secureOptions?: number | undefined
  /** ALPN protocols in wire format (length-prefixed: `'\x02h2\x08http/1.1'`); arrays throw. */
  ALPNProtocols?: string | BufferSource
  ciphers?: string
  clientRenegotiationLimit?: number
  clientRenegotiationWindow?: number
}

/** A connected TCP, TLS or unix socket. */
export interface Socket<Data = undefined> {
  /**
   * Sends what the kernel takes now, without buffering. Returns the number of bytes taken
   * (possibly fewer than offered), 0 while the kernel buffer is full, -1 once closed. After a
   * short write the `drain` handler runs once the socket is writable again; the rest is the
   * caller's to resend. `byteOffset`/`byteLength` count bytes (UTF-8 for strings). On TLS, a
   * write before the handshake completes returns 0 and the bytes are dropped, as in Bun.
   */
  write(data: string | BufferSource, byteOffset?: number, byteLength?: number): number
  /** Writes `data` (if any) and closes; `close` runs before this returns unless writes are pending. */
  end(data?: string | BufferSource, byteOffset?: number, byteLength?: number): number
  /** Closes gracefully now (FIN). */
  close(): void
  /** Closes with a reset (RST); the peer sees `close` with `ECONNRESET`. */
  terminate(): void
  /** Half-closes the write side; with `true`, closes the read side instead. */
  shutdown(halfClose?: boolean): void
  /** Writes are never buffered, so there is nothing to flush. */
  flush(): void
  /** A one-shot `timeout` handler call after `seconds` (whole seconds); 0 disables. */
  timeout(seconds: number): void
  ref(): void
  unref(): void
  /** Stops delivering `data` and `end` until `resume()`; the peer is slowed by TCP flow control. */
  pause(): void
  resume(): void
  reload(options: Pick<SocketOptions<Data>, 'socket'>): void
  setNoDelay(noDelay?: boolean): boolean
  /** `initialDelay` in milliseconds. */
  setKeepAlive(enable?: boolean, initialDelay?: number): boolean
  /** Sets IP_TOS (IPV6_TCLASS) to 0..255 (`undefined` is 0): 0, or -errno (EBADF once closed, EINVAL on unix). */
  setTypeOfService(tos?: number): number
  /** IP_TOS (IPV6_TCLASS), or -errno as `setTypeOfService`. */
  getTypeOfService(): number
  data: Data
  /** 1 while open, -1 once closed. */
  readonly readyState: -2 | -1 | 0 | 1 | 2
  /** Bytes accepted by `write`/`end` (plaintext bytes on TLS). */
  readonly bytesWritten: number
  /** The listener that accepted this socket; `undefined` for `connect()` sockets. */
  readonly listener?: SocketListener
  readonly localAddress: string
  readonly localPort: number
  readonly localFamily: 'IPv4' | 'IPv6'
  readonly remoteAddress: string
  readonly remotePort: number
  readonly remoteFamily: 'IPv4' | 'IPv6'
  /** The OS descriptor; -1 once closed. */
  readonly fd: number
  /** Same as `end()`. */
  [Symbol.dispose](): void

  /**
   * STARTTLS: starts TLS over this open plain socket and returns two new sockets, `raw` (the old
   * handlers, seeing the ciphertext) and `tls` (the new handlers); this socket is dead afterwards.
   * Returns `undefined` on a socket that is already TLS.
   */
  upgradeTLS<Data>(options: TLSUpgradeOptions<Data>): [raw: Socket<Data>, tls: Socket<Data>]

  // TLS introspection. On plain sockets these answer as Bun's plain sockets do.

  /** Whether the peer's certificate verified; `false` on plain sockets and before the handshake. */
  readonly authorized: boolean
  /** The negotiated ALPN protocol; `false` when none, before the handshake, after close and on plain sockets. */
  readonly alpnProtocol: string | false | null
  /** Why the peer is not `authorized`; `null` once authorized and on plain sockets. */
  getAuthorizationError(): Error | null
  /** `undefined` on plain or closed sockets. */
  getCipher(): CipherNameAndProtocol
  /** `'TLSv1.3'`, `'TLSv1.2'`; `null` on plain or closed sockets. */
  getTLSVersion(): string
  /** `undefined` without a peer certificate, `null` on plain sockets. Never has `issuerCertificate`. */
  getPeerCertificate(detailed?: boolean): PeerCertificate
  /** TLS sockets only; `undefined` without a peer certificate. */
  getPeerX509Certificate(): X509Certificate
  /** The local certificate; `undefined` without one. */
  getCertificate(): PeerCertificate | object | null
  /** TLS sockets only. */
  getX509Certificate(): X509Certificate | undefined
  /** Client: `{}` or `{ type, name, size }`; `null` on servers and plain sockets. */
  getEphemeralKeyInfo(): EphemeralKeyInfo | object | null
  /** Always `[]` on TLS; `undefined` on plain sockets. */
  getSharedSigalgs(): string[]
  /** RFC 5705 keying material; throws before the handshake, `undefined` on plain or closed sockets. */
  exportKeyingMaterial(length: number, label: string, context: Buffer): Buffer
  exportKeyingMaterial(length: number, label: string, context?: string | BufferSource): Buffer | undefined
  isSessionReused(): boolean
  /** The TLS session to pass to `setSession` later; `undefined` before the handshake. */
  getSession(): Buffer | undefined
  /**
   * The session to resume. Takes effect only before the handshake starts: in `open` with a
   * `handshake` handler, or when `connect()` resolves, before any write.
   */
  setSession(session: string | Buffer | BufferSource): void
  /** The SNI name; `undefined` when none and on plain sockets. */
  getServername(): string
  setServername(name: string): void
  getTLSTicket(): Buffer | undefined
  getTLSFinishedMessage(): Buffer | undefined
  getTLSPeerFinishedMessage(): Buffer | undefined
  /**
   * Before the handshake (in `open` with a `handshake` handler): a server asks for a client
   * certificate with `requestCert`; `rejectUnauthorized` makes a refused certificate end the
   * connection, on either side. Afterwards it changes nothing.
   */
  setVerifyMode(requestCert: boolean, rejectUnauthorized: boolean): void
  /** Renegotiation is not supported: throws on an open TLS socket. */
  renegotiate(): void
  disableRenegotiation(): void
  /** `true` for 512 ≤ `size` ≤ 16384 on an open TLS socket. */
  setMaxSendFragment(size: number): boolean
}

export interface TCPSocket extends Socket {}
export interface TLSSocket extends Socket {}

export interface TLSUpgradeOptions<Data> {
  data?: Data
  tls: TLSOptions | boolean
  socket: SocketHandler<Data>
}

/** Handlers, named as in Bun. Each gets the socket as `this` and as first argument. */
export interface SocketHandler<Data = unknown, DataBinaryType extends BinaryType = 'buffer'> {
  /** On a TLS socket without a `handshake` handler, runs after the handshake instead of at connect. */
  open?(socket: Socket<Data>): void | Promise<void>
  close?(socket: Socket<Data>, error?: Error): void | Promise<void>
  /** A handler threw, or an established TLS session failed (the socket then closes). */
  error?(socket: Socket<Data>, error: Error): void | Promise<void>
  data?(socket: Socket<Data>, data: BinaryTypeList[DataBinaryType]): void | Promise<void>
  drain?(socket: Socket<Data>): void | Promise<void>
  /**
   * The TLS handshake ended. `success`: whether the connection is kept despite
   * `authorizationError` (the certificate's verification error, or `null`).
   */
  handshake?(socket: Socket<Data>, success: boolean, authorizationError: Error | null): void
  end?(socket: Socket<Data>): void | Promise<void>
  connectError?(socket: Socket<Data>, error: Error): void | Promise<void>
  timeout?(socket: Socket<Data>): void | Promise<void>
  /** TLS: each NSS key log line (newline included) as the session derives its secrets. */
  keylog?(socket: Socket<Data>, line: Buffer): void
  /** TLS client: each new session, to pass to `setSession` on a later connection (this process only). */
  session?(socket: Socket<Data>, session: Buffer): void
  /**
   * TLS listener: the SNI name a client sent, before the handshake (`this` is the listener's
   * `data`). Returning anything but `undefined`, or throwing, refuses the connection.
   */
  serverName?(listenerData: unknown, servername: string, socket: Socket<Data>): void
  /**
   * TLS listener: chooses the protocol from the client's ALPN names (`protocols` in wire format:
   * each name after its length byte). `false` lets `ALPNProtocols` decide; anything else that is
   * not one of the client's names (or a throw, which reaches `error`) refuses the connection.
   */
  alpnCallback?(socket: Socket<Data>, servername: string | undefined, protocols: Buffer): string | false | undefined
  /** What `data` receives. Default `'buffer'`. */
  binaryType?: BinaryType
}

export interface SocketOptions<Data = unknown> {
  socket: SocketHandler<Data>
  data?: Data
  allowHalfOpen?: boolean
}

export interface TCPSocketListenOptions<Data = undefined> extends SocketOptions<Data> {
  hostname: string
  port: number
  /** Serve TLS (see `TLSOptions`). */
  tls?: TLSOptions | boolean
  /** Refuse to share the port (no SO_REUSEPORT). */
  exclusive?: boolean
  allowHalfOpen?: boolean
}

export interface TCPSocketConnectOptions<Data = undefined> extends SocketOptions<Data> {
  hostname: string
  port: number
  /** Connect over TLS (see `TLSOptions`). */
  tls?: TLSOptions | boolean
}

export interface UnixSocketOptions<Data = undefined> extends SocketOptions<Data> {
  unix: string
  tls?: TLSOptions | boolean
}

export interface SocketListener<Data = undefined> {
  /** Stops accepting; with `true` also closes the accepted sockets. */
  stop(closeActiveConnections?: boolean): void
  ref(): void
  unref(): void
  reload(options: Pick<SocketOptions<Data>, 'socket'>): void
  data: Data
  readonly fd: number
  /** Fills `out` with the bound address. */
  getsockname(out: Partial<SocketAddress>): void
  [Symbol.dispose](): void
}

export interface TCPSocketListener<Data = unknown> extends SocketListener<Data> {
  readonly port: number
  readonly hostname: string
}

export interface UnixSocketListener<Data> extends SocketListener<Data> {
  readonly unix: string
}

export function listen<Data = undefined>(options: TCPSocketListenOptions<Data>): TCPSocketListener<Data>
export function listen<Data = undefined>(options: UnixSocketOptions<Data>): UnixSocketListener<Data>

/**
 * Resolves once the TCP connection is up; on TLS that is before the handshake (see the
 * `handshake` handler). A refused certificate closes the socket instead of rejecting.
 */
export function connect<Data = undefined>(options: TCPSocketConnectOptions<Data>): Promise<Socket<Data>>
export function connect<Data = undefined>(options: UnixSocketOptions<Data>): Promise<Socket<Data>>

export type SocketAddress = udp.SocketAddress

export namespace udp {
  type Data = string | ArrayBufferView | ArrayBufferLike

  export interface SocketAddress {
    address: string
    family: 'IPv4' | 'IPv6'
    port: number
  }

  export interface ReceiveFlags {
    /** Whether the kernel cut the datagram short (never, with 64 KiB receive slots). */
    truncated: boolean
    /** Whether the sender's address is IPv6. */
    ipv6: boolean
  }

  export interface SocketHandler<DataBinaryType extends BinaryType> {
    data?(
      socket: Socket<DataBinaryType>,
      data: BinaryTypeList[DataBinaryType],
      port: number,
      address: string,
      flags: ReceiveFlags,
    ): void | Promise<void>
    drain?(socket: Socket<DataBinaryType>): void | Promise<void>
    /** Called with the error alone (ICMP errors arrive with `errqueue: true`). */
    error?(this: Socket<DataBinaryType>, error: Error): void | Promise<void>
  }

  export interface ConnectedSocketHandler<DataBinaryType extends BinaryType> {
    data?(
      socket: ConnectedSocket<DataBinaryType>,
      data: BinaryTypeList[DataBinaryType],
      port: number,
      address: string,
      flags: ReceiveFlags,
    ): void | Promise<void>
    drain?(socket: ConnectedSocket<DataBinaryType>): void | Promise<void>
    error?(this: ConnectedSocket<DataBinaryType>, error: Error): void | Promise<void>
  }

  export interface SocketOptions<DataBinaryType extends BinaryType> {
    hostname?: string
    port?: number
    binaryType?: DataBinaryType
    socket?: SocketHandler<DataBinaryType>
  }

  export interface ConnectSocketOptions<DataBinaryType extends BinaryType> {
    hostname?: string
    port?: number
    binaryType?: DataBinaryType
    socket?: ConnectedSocketHandler<DataBinaryType>
    connect: { hostname: string; port: number }
  }

  export interface BaseUDPSocket {
    readonly hostname: string
    readonly port: number
    readonly address: SocketAddress
    readonly binaryType: BinaryType
    readonly closed: boolean
    readonly fd: number
    ref(): void
    unref(): void
    close(): void
    /** Returns its argument. */
    setBroadcast(enabled: boolean): boolean
    setTTL(ttl: number): number
    setMulticastTTL(ttl: number): number
    setMulticastLoopback(enabled: boolean): boolean
    setMulticastInterface(interfaceAddress: string): boolean
    addMembership(multicastAddress: string, interfaceAddress?: string): boolean
    dropMembership(multicastAddress: string, interfaceAddress?: string): boolean
    addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): boolean
    dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): boolean
    [Symbol.dispose](): void
  }

  export interface ConnectedSocket<DataBinaryType extends BinaryType> extends BaseUDPSocket {
    readonly remoteAddress: SocketAddress
    sendMany(packets: readonly Data[]): number
    send(data: Data): boolean
    reload(handler: ConnectedSocketHandler<DataBinaryType>): void
  }

  export interface Socket<DataBinaryType extends BinaryType> extends BaseUDPSocket {
    /** Flat `[data, port, address, …]`; returns how many datagrams went out. */
    sendMany(packets: readonly (Data | string | number)[]): number
    /** `address` must be an IP literal. */
    send(data: Data, port: number, address: string): boolean
    reload(handler: SocketHandler<DataBinaryType>): void
  }
}

export function udpSocket<DataBinaryType extends BinaryType = 'buffer'>(
  options: udp.SocketOptions<DataBinaryType>,
): Promise<udp.Socket<DataBinaryType>>
export function udpSocket<DataBinaryType extends BinaryType = 'buffer'>(
  options: udp.ConnectSocketOptions<DataBinaryType>,
): Promise<udp.ConnectedSocket<DataBinaryType>>

/** A growable byte buffer: `write()` appends, `end()` returns everything written. */
export class ArrayBufferSink {
  start(options?: {
    /** `flush()`/`end()` return a `Uint8Array` instead of an `ArrayBuffer`. */
    asUint8Array?: boolean
    /** Capacity to reserve up front. */
    highWaterMark?: number
    /** `flush()` returns what was written since the last flush. */
    stream?: boolean
  }): void
  /** Returns the number of bytes appended. */
  write(chunk: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer): number
  /** In `stream` mode the bytes since the last flush; otherwise 0. */
  flush(): number | Uint8Array<ArrayBuffer> | ArrayBuffer
  end(): ArrayBuffer | Uint8Array<ArrayBuffer>
  /** Detaches the sink; every later call throws. */
  close(): void
}

/** The subset of the `Bun` namespace this package provides: `import Bun from 'bun-sockets'`. */
declare const Bun: {
  listen: typeof listen
  connect: typeof connect
  udpSocket: typeof udpSocket
  ArrayBufferSink: typeof ArrayBufferSink
}
export default Bun
