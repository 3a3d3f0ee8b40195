// Public typings of bun-sockets: Bun's socket API (Bun 1.4.4 shapes, TLS included) for Node.js.
// Self-contained: no dependency on bun-types. Signatures follow bun-types@1.4.4 so that each export
// is assignable to its `typeof Bun.…` (checked by scripts/check-package.sh); where Bun's declared
// type and Bun's behaviour differ, the doc comment says what a call returns.

/// <reference types="node" />

import type { X509Certificate } from 'node:crypto'
import type { CipherNameAndProtocol, EphemeralKeyInfo, PeerCertificate } from 'node:tls'

/** What each `binaryType` delivers to a `data` handler. */
export interface BinaryTypeList {
  /** An `ArrayBuffer` holding the bytes. */
  arraybuffer: ArrayBuffer
  /** A Node.js `Buffer` (the default). */
  buffer: Buffer
  /** A `Uint8Array` over its own `ArrayBuffer`. */
  uint8array: Uint8Array<ArrayBuffer>
}
/** How received bytes are handed to `data`: `'buffer'` (default), `'arraybuffer'` or `'uint8array'`. */
export type BinaryType = keyof BinaryTypeList

/** Anything `write()` accepts besides strings. */
export type BufferSource = NodeJS.TypedArray | DataView | ArrayBufferLike

/** What `Bun.file(path)` returns, as TLS options read it: a Blob that names its file. */
export interface BunFile extends Blob {
  /** The file's path; TLS options read the file at this path. */
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
  /** Accepted for compatibility with Bun; has no effect here. */
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
  /** OpenSSL cipher list; names rustls does not implement are refused at the call. */
  ciphers?: string
  /** Accepted for compatibility; renegotiation is never allowed (TLS 1.3 has none). */
  clientRenegotiationLimit?: number
  /** Accepted for compatibility; renegotiation is never allowed. */
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
  /** Makes the socket keep the process alive again (the default while open). */
  ref(): void
  /** Lets the process exit while this socket is still open. */
  unref(): void
  /** Stops delivering `data` and `end` until `resume()`; the peer is slowed by TCP flow control. */
  pause(): void
  /** Resumes delivering `data` and `end` after `pause()`. */
  resume(): void
  /** Replaces the socket's handlers; later events go to the new ones. */
  reload(options: Pick<SocketOptions<Data>, 'socket'>): void
  /** Disables (default `true`) or enables Nagle's algorithm; returns whether it was applied. */
  setNoDelay(noDelay?: boolean): boolean
  /** `initialDelay` in milliseconds. */
  setKeepAlive(enable?: boolean, initialDelay?: number): boolean
  /** Sets IP_TOS (IPV6_TCLASS) to 0..255 (`undefined` is 0): 0, or -errno (EBADF once closed, EINVAL on unix). */
  setTypeOfService(tos?: number): number
  /** IP_TOS (IPV6_TCLASS), or -errno as `setTypeOfService`. */
  getTypeOfService(): number
  /** The value given as `data` to `listen`/`connect`; free for the application to replace. */
  data: Data
  /** 1 while open, -1 once closed. */
  readonly readyState: -2 | -1 | 0 | 1 | 2
  /** Bytes accepted by `write`/`end` (plaintext bytes on TLS). */
  readonly bytesWritten: number
  /** The listener that accepted this socket; `undefined` for `connect()` sockets. */
  readonly listener?: SocketListener
  /** The local IP address (`''` on unix sockets). */
  readonly localAddress: string
  /** The local port. */
  readonly localPort: number
  /** Whether the local address is IPv4 or IPv6. */
  readonly localFamily: 'IPv4' | 'IPv6'
  /** The peer's IP address (`''` on unix sockets). */
  readonly remoteAddress: string
  /** The peer's port. */
  readonly remotePort: number
  /** Whether the peer's address is IPv4 or IPv6. */
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
  /** RFC 5705 keying material of `length` bytes for `label` and `context`; throws before the handshake. */
  exportKeyingMaterial(length: number, label: string, context?: string | BufferSource): Buffer | undefined
  /** Whether the TLS handshake resumed an earlier session; `false` on plain sockets. */
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
  /** Sets the SNI name a client sends; call it before the handshake starts. */
  setServername(name: string): void
  /** Always `undefined`: rustls does not expose session tickets (Bun: `undefined` on TLS 1.3). */
  getTLSTicket(): Buffer | undefined
  /** Always `undefined`: rustls does not expose the Finished message. */
  getTLSFinishedMessage(): Buffer | undefined
  /** Always `undefined`: rustls does not expose the peer's Finished message. */
  getTLSPeerFinishedMessage(): Buffer | undefined
  /**
   * Before the handshake (in `open` with a `handshake` handler): a server asks for a client
   * certificate with `requestCert`; `rejectUnauthorized` makes a refused certificate end the
   * connection, on either side. Afterwards it changes nothing.
   */
  setVerifyMode(requestCert: boolean, rejectUnauthorized: boolean): void
  /** Renegotiation is not supported: throws on an open TLS socket. */
  renegotiate(): void
  /** No-op: renegotiation is never allowed. */
  disableRenegotiation(): void
  /** `true` for 512 ≤ `size` ≤ 16384 on an open TLS socket. */
  setMaxSendFragment(size: number): boolean
}

/** A TCP (or unix) socket, as `connect()` resolves it and `open` receives it. */
export interface TCPSocket extends Socket {}
/** A TLS socket: a `Socket` whose TLS members answer with the session's values. */
export interface TLSSocket extends Socket {}

/** Options of `socket.upgradeTLS()` (STARTTLS). */
export interface TLSUpgradeOptions<Data> {
  /** The `data` of the new TLS socket. */
  data?: Data
  /** TLS settings for the new session; `true` uses the defaults. */
  tls: TLSOptions | boolean
  /** Handlers of the new TLS socket. */
  socket: SocketHandler<Data>
  /**
   * Which end of the handshake this socket takes; by default the server when it was accepted by
   * a listener. (Bun takes it; bun-types does not declare it.)
   */
  isServer?: boolean
  /**
   * Bytes already read from the peer that belong to the TLS session (a ClientHello that arrived
   * with the STARTTLS command): the new session reads them first. Strings count as UTF-8.
   * (Bun takes it; bun-types does not declare it.)
   */
  initialData?: string | ArrayBufferView | ArrayBuffer | SharedArrayBuffer
}

/** Handlers, named as in Bun. Each gets the socket as `this` and as first argument. */
export interface SocketHandler<Data = unknown, DataBinaryType extends BinaryType = 'buffer'> {
  /** On a TLS socket without a `handshake` handler, runs after the handshake instead of at connect. */
  open?(socket: Socket<Data>): void | Promise<void>
  /** The socket closed; `error` is set when it closed because of one (e.g. `ECONNRESET`). */
  close?(socket: Socket<Data>, error?: Error): void | Promise<void>
  /** A handler threw, or an established TLS session failed (the socket then closes). */
  error?(socket: Socket<Data>, error: Error): void | Promise<void>
  /** Bytes arrived, as `binaryType` says (a `Buffer` by default). */
  data?(socket: Socket<Data>, data: BinaryTypeList[DataBinaryType]): void | Promise<void>
  /** The socket can take writes again after `write()` returned less than it was given. */
  drain?(socket: Socket<Data>): void | Promise<void>
  /**
   * The TLS handshake ended. `success`: whether the connection is kept despite
   * `authorizationError` (the certificate's verification error, or `null`).
   */
  handshake?(socket: Socket<Data>, success: boolean, authorizationError: Error | null): void
  /** The peer half-closed (FIN). Without `allowHalfOpen` the socket then closes. */
  end?(socket: Socket<Data>): void | Promise<void>
  /** `connect()` failed (`ECONNREFUSED`, `ENOENT`…); the promise rejects with the same error. */
  connectError?(socket: Socket<Data>, error: Error): void | Promise<void>
  /** The one-shot timer set by `socket.timeout(seconds)` expired. */
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

/** What `listen` and `connect` share. */
export interface SocketOptions<Data = unknown> {
  /** The handlers; at least `data` or `drain` is required. */
  socket: SocketHandler<Data>
  /** Initial value of each socket's `data`. */
  data?: Data
  /** Keep the socket writable after the peer's `end` (default `false`: close at once). */
  allowHalfOpen?: boolean
}

/** Options of `listen()` over TCP. */
export interface TCPSocketListenOptions<Data = undefined> extends SocketOptions<Data> {
  /** The address to bind: an IP, a name such as `'localhost'`, or `'0.0.0.0'`/`'::'` for all. */
  hostname: string
  /** The port to bind; 0 picks a free one (read it back from `listener.port`). */
  port: number
  /** Serve TLS (see `TLSOptions`). */
  tls?: TLSOptions | boolean
  /**
   * Share the port with other listeners that set it too (SO_REUSEPORT): the kernel spreads
   * connections among them. Default `false`: a second listen on the port throws `EADDRINUSE`.
   */
  reusePort?: boolean
  /** Never share the port: wins over `reusePort`, as in Bun. Alone it changes nothing. */
  exclusive?: boolean
  /** On `'::'`, take IPv6 connections only and leave the IPv4 port free (IPV6_V6ONLY). */
  ipv6Only?: boolean
  /** Keep accepted sockets writable after the peer's `end`. */
  allowHalfOpen?: boolean
}

/** Options of `connect()` over TCP. */
export interface TCPSocketConnectOptions<Data = undefined> extends SocketOptions<Data> {
  /** The host to connect to: an IP or a name (`localhost` tries `::1`, then `127.0.0.1`). */
  hostname: string
  /** The port to connect to. */
  port: number
  /** Connect over TLS (see `TLSOptions`). */
  tls?: TLSOptions | boolean
  /** Checked and ignored, as in Bun (it applies to listeners). */
  exclusive?: boolean
  /** Checked and ignored, as in Bun (it applies to listeners). */
  reusePort?: boolean
  /** Checked and ignored, as in Bun (it applies to listeners). */
  ipv6Only?: boolean
}

/** Options of `listen()`/`connect()` over a unix domain socket. */
export interface UnixSocketOptions<Data = undefined> extends SocketOptions<Data> {
  /** The socket's path. */
  unix: string
  /** TLS over the unix socket (see `TLSOptions`). */
  tls?: TLSOptions | boolean
}

/** Options of `connect()` on a stream socket the caller already has (Bun's `fd` option). */
export interface FdSocketOptions<Data = undefined> extends SocketOptions<Data> {
  /**
   * A connected TCP or unix stream socket. bun-sockets works on a duplicate of it: the
   * descriptor passed stays the caller's to close. Anything else rejects with `ECONNREFUSED`.
   */
  fd: number
  /** TLS over that socket (see `TLSOptions`). */
  tls?: TLSOptions | boolean
}

/** What `listen()` returns: the listening socket. */
export interface SocketListener<Data = undefined> {
  /** Stops accepting; with `true` also closes the accepted sockets. */
  stop(closeActiveConnections?: boolean): void
  /** Makes the listener keep the process alive again (the default). */
  ref(): void
  /** Lets the process exit while the listener is still open. */
  unref(): void
  /** Replaces the handlers of sockets accepted from now on. */
  reload(options: Pick<SocketOptions<Data>, 'socket'>): void
  /** The `data` given to `listen()`. */
  data: Data
  /** The listening descriptor; -1 once stopped. */
  readonly fd: number
  /** Fills `out` with the bound address. */
  getsockname(out: Partial<SocketAddress>): void
  /** Stops the listener (`using server = listen(…)`). */
  [Symbol.dispose](): void
}

/** A listener bound to a TCP address. */
export interface TCPSocketListener<Data = unknown> extends SocketListener<Data> {
  /** The bound port (the real one when `port: 0` was asked). */
  readonly port: number
  /** The hostname given to `listen()`. */
  readonly hostname: string
}

/** A listener bound to a unix socket path. */
export interface UnixSocketListener<Data> extends SocketListener<Data> {
  /** The socket's path. */
  readonly unix: string
}

/**
 * Binds and listens at once (synchronously, as Bun does) and calls `socket.open` for each accepted connection. Errors such as `EADDRINUSE` throw here.
 *
 * @example
 * ```js
 * const server = listen({ hostname: '127.0.0.1', port: 0, socket: { data(socket, data) { socket.write(data) } } })
 * console.log(server.port)
 * server.stop(true)
 * ```
 */
export function listen<Data = undefined>(options: TCPSocketListenOptions<Data>): TCPSocketListener<Data>
/** Listens on a unix domain socket at `options.unix`. */
export function listen<Data = undefined>(options: UnixSocketOptions<Data>): UnixSocketListener<Data>

/**
 * Resolves once the TCP connection is up; on TLS that is before the handshake (see the
 * `handshake` handler). A refused certificate closes the socket instead of rejecting.
 */
export function connect<Data = undefined>(options: TCPSocketConnectOptions<Data>): Promise<Socket<Data>>
/** Connects to a unix domain socket at `options.unix`. */
export function connect<Data = undefined>(options: UnixSocketOptions<Data>): Promise<Socket<Data>>
/** Works on a stream socket the caller already has (see `FdSocketOptions`). */
export function connect<Data = undefined>(options: FdSocketOptions<Data>): Promise<Socket<Data>>

/** An address as UDP sockets report it. */
export type SocketAddress = udp.SocketAddress

/** Types of `udpSocket()`. */
export namespace udp {
  type Data = string | ArrayBufferView | ArrayBufferLike

  /** An IP address with its family and port. */
  export interface SocketAddress {
    /** The IP address. */
    address: string
    /** `'IPv4'` or `'IPv6'`. */
    family: 'IPv4' | 'IPv6'
    /** The port. */
    port: number
  }

  /** Details of one received datagram. */
  export interface ReceiveFlags {
    /** Whether the kernel cut the datagram short (never, with 64 KiB receive slots). */
    truncated: boolean
    /** Whether the sender's address is IPv6. */
    ipv6: boolean
  }

  /** Handlers of an unconnected UDP socket. */
  export interface SocketHandler<DataBinaryType extends BinaryType> {
    /** A datagram arrived from `address`:`port`. */
    data?(
      socket: Socket<DataBinaryType>,
      data: BinaryTypeList[DataBinaryType],
      port: number,
      address: string,
      flags: ReceiveFlags,
    ): void | Promise<void>
    /** The socket can send again after `send()` returned `false`. */
    drain?(socket: Socket<DataBinaryType>): void | Promise<void>
    /**
     * Bun calls it with the error alone and the socket as `this` (ICMP errors arrive with
     * `errqueue: true`). bun-types declares `error(socket, error)`; so that handlers written that
     * way type-check too, the first parameter is typed as both and a second is declared, though
     * neither Bun nor this package passes one.
     */
    error?(this: Socket<DataBinaryType>, error: Error & Socket<DataBinaryType>, bunTypesError: Error): void | Promise<void>
  }

  /** Handlers of a connected UDP socket. */
  export interface ConnectedSocketHandler<DataBinaryType extends BinaryType> {
    /** A datagram arrived from the connected peer. */
    data?(
      socket: ConnectedSocket<DataBinaryType>,
      data: BinaryTypeList[DataBinaryType],
      port: number,
      address: string,
      flags: ReceiveFlags,
    ): void | Promise<void>
    /** The socket can send again after `send()` returned `false`. */
    drain?(socket: ConnectedSocket<DataBinaryType>): void | Promise<void>
    /**
     * Bun calls it with the error alone and the socket as `this` (ICMP errors, e.g.
     * `ECONNREFUSED`, arrive with `errqueue: true`). bun-types declares `error(socket, error)`;
     * so that handlers written that way type-check too, the first parameter is typed as both and
     * a second is declared, though neither Bun nor this package passes one.
     */
    error?(
      this: ConnectedSocket<DataBinaryType>,
      error: Error & ConnectedSocket<DataBinaryType>,
      bunTypesError: Error,
    ): void | Promise<void>
  }

  /** Options of an unconnected `udpSocket()`. */
  export interface SocketOptions<DataBinaryType extends BinaryType> {
    /** The address to bind; default `'0.0.0.0'`. */
    hostname?: string
    /** The port to bind; default 0 (a free one). */
    port?: number
    /** What `data` receives; default `'buffer'`. */
    binaryType?: DataBinaryType
    /** The handlers. */
    socket?: SocketHandler<DataBinaryType>
  }

  /** Options of a connected `udpSocket()`: it sends to and receives from one peer. */
  export interface ConnectSocketOptions<DataBinaryType extends BinaryType> {
    /** The address to bind; default `'0.0.0.0'`. */
    hostname?: string
    /** The port to bind; default 0 (a free one). */
    port?: number
    /** What `data` receives; default `'buffer'`. */
    binaryType?: DataBinaryType
    /** The handlers. */
    socket?: ConnectedSocketHandler<DataBinaryType>
    /** The peer to connect to. */
    connect: { hostname: string; port: number }
  }

  /** What connected and unconnected UDP sockets share. */
  export interface BaseUDPSocket {
    /** The bound hostname. */
    readonly hostname: string
    /** The bound port. */
    readonly port: number
    /** The bound address. */
    readonly address: SocketAddress
    /** What `data` receives. */
    readonly binaryType: BinaryType
    /** Whether `close()` was called. */
    readonly closed: boolean
    /** The OS descriptor; -1 once closed. */
    readonly fd: number
    /** Makes the socket keep the process alive again (the default). */
    ref(): void
    /** Lets the process exit while the socket is open. */
    unref(): void
    /** Closes the socket; later sends throw. */
    close(): void
    /** Returns its argument. */
    setBroadcast(enabled: boolean): boolean
    /** Sets the unicast TTL (IP_TTL / IPV6_UNICAST_HOPS); returns it. */
    setTTL(ttl: number): number
    /** Sets the multicast TTL; returns it. */
    setMulticastTTL(ttl: number): number
    /** Whether multicast datagrams loop back to this host; returns its argument. */
    setMulticastLoopback(enabled: boolean): boolean
    /** Picks the interface for outgoing multicast by its address. */
    setMulticastInterface(interfaceAddress: string): boolean
    /** Joins a multicast group, on `interfaceAddress` or the default interface. */
    addMembership(multicastAddress: string, interfaceAddress?: string): boolean
    /** Leaves a multicast group. */
    dropMembership(multicastAddress: string, interfaceAddress?: string): boolean
    /** Joins a source-specific multicast group (only datagrams from `sourceAddress`). */
    addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): boolean
    /** Leaves a source-specific multicast group. */
    dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): boolean
    /** Closes the socket (`using sock = await udpSocket(…)`). */
    [Symbol.dispose](): void
  }

  /** A UDP socket connected to one peer. */
  export interface ConnectedSocket<DataBinaryType extends BinaryType> extends BaseUDPSocket {
    /** The connected peer. */
    readonly remoteAddress: SocketAddress
    /** Sends each packet to the peer; returns how many went out. */
    sendMany(packets: readonly Data[]): number
    /** Sends one datagram to the peer; `false` when the kernel buffer is full (wait for `drain`). */
    send(data: Data): boolean
    /** Replaces the handlers. */
    reload(handler: ConnectedSocketHandler<DataBinaryType>): void
  }

  /** An unconnected UDP socket: sends to any address. */
  export interface Socket<DataBinaryType extends BinaryType> extends BaseUDPSocket {
    /** Flat `[data, port, address, …]`; returns how many datagrams went out. */
    sendMany(packets: readonly (Data | string | number)[]): number
    /** `address` must be an IP literal. */
    send(data: Data, port: number, address: string): boolean
    /** Replaces the handlers. */
    reload(handler: SocketHandler<DataBinaryType>): void
  }
}

/**
 * Binds a UDP socket. Resolves once bound; `send()` is synchronous and never buffers.
 *
 * @example
 * ```js
 * const sock = await udpSocket({ socket: { data(s, data, port, address) { console.log(String(data)) } } })
 * sock.send('ping', sock.port, '127.0.0.1')
 * ```
 */
export function udpSocket<DataBinaryType extends BinaryType = 'buffer'>(
  options: udp.SocketOptions<DataBinaryType>,
): Promise<udp.Socket<DataBinaryType>>
/** Binds a UDP socket connected to `options.connect`: `send()` needs no address and only the peer's datagrams arrive. */
export function udpSocket<DataBinaryType extends BinaryType = 'buffer'>(
  options: udp.ConnectSocketOptions<DataBinaryType>,
): Promise<udp.ConnectedSocket<DataBinaryType>>

/** A growable byte buffer: `write()` appends, `end()` returns everything written. */
export class ArrayBufferSink {
  /** Resets the sink with new options. */
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
  /** Returns everything written (since the last `flush` in stream mode) and resets the sink. */
  end(): ArrayBuffer | Uint8Array<ArrayBuffer>
  /** Detaches the sink; every later call throws. */
  close(): void
}

/** The part of Bun's `Bun` namespace this package provides, as its default export. */
export interface BunSockets {
  /** Same as the named export `listen`. */
  listen: typeof listen
  /** Same as the named export `connect`. */
  connect: typeof connect
  /** Same as the named export `udpSocket`. */
  udpSocket: typeof udpSocket
  /** Same as the named export `ArrayBufferSink`. */
  ArrayBufferSink: typeof ArrayBufferSink
}

/** `import Bun from 'bun-sockets'`: `Bun.listen`, `Bun.connect`, `Bun.udpSocket`, `Bun.ArrayBufferSink`. */
declare const Bun: BunSockets
export default Bun
