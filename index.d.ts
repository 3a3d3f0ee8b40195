// Public typings of bun-sockets: Bun's socket API (Bun 1.4.4 shapes) for Node.js.
// Self-contained: no dependency on bun-types.

/// <reference types="node" />

export type BinaryTypeList = {
  arraybuffer: ArrayBuffer
  buffer: Buffer
  uint8array: Uint8Array
}
export type BinaryType = keyof BinaryTypeList

/** Anything `write()` accepts besides strings. */
export type BufferSource = ArrayBufferView | ArrayBuffer | SharedArrayBuffer

/** A connected TCP or unix socket. */
export interface Socket<Data = undefined> {
  /**
   * Sends what the kernel takes now, without buffering. Returns the number of bytes taken
   * (possibly fewer than offered), 0 while the kernel buffer is full, -1 once closed. After a
   * short write the `drain` handler runs once the socket is writable again; the rest is the
   * caller's to resend. `byteOffset`/`byteLength` count bytes (UTF-8 for strings).
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
  data: Data
  /** 1 while open, -1 once closed. */
  readonly readyState: -2 | -1 | 0 | 1 | 2
  readonly bytesWritten: number
  readonly listener?: SocketListener<Data>
  readonly localAddress: string
  readonly localPort: number
  readonly localFamily: 'IPv4' | 'IPv6'
  readonly remoteAddress: string
  readonly remotePort: number
  readonly remoteFamily: 'IPv4' | 'IPv6'
  /** The OS descriptor; -1 once closed. */
  readonly fd: number
  /** Always `false` on plain sockets. */
  readonly authorized: boolean
  /** `false` on plain sockets. */
  readonly alpnProtocol: string | false | null
  /** Same as `end()`. */
  [Symbol.dispose](): void

  // TLS introspection. TLS itself is not implemented yet: on these plain sockets the members
  // answer as Bun's plain sockets do (null, undefined or false), and a `tls` option that asks
  // for TLS throws (code ERR_BUN_SOCKETS_TLS_UNSUPPORTED) rather than fall back to plain TCP.
  getAuthorizationError(): Error | null
  getCipher(): { name: string; standardName: string; version: string } | undefined
  getTLSVersion(): string | null
  getPeerCertificate(detailed?: boolean): object | null
  getCertificate(): object | null | undefined
  getEphemeralKeyInfo(): object | null
  getSharedSigalgs(): string[] | undefined
  exportKeyingMaterial(length: number, label: string, context?: string | BufferSource): Buffer | undefined
  isSessionReused(): boolean
  getSession(): Buffer | undefined
  setSession(session: string | Buffer | BufferSource): void
  getServername(): string | undefined
  setServername(name: string): void
  getTLSTicket(): Buffer | undefined
  getTLSFinishedMessage(): Buffer | undefined
  getTLSPeerFinishedMessage(): Buffer | undefined
  setVerifyMode(requestCert: boolean, rejectUnauthorized: boolean): void
  renegotiate(): void
  disableRenegotiation(): void
  setMaxSendFragment(size: number): boolean
}

export interface TCPSocket extends Socket {}

/** Handlers, named as in Bun. Each gets the socket as `this` and as first argument. */
export interface SocketHandler<Data = unknown, DataBinaryType extends BinaryType = 'buffer'> {
  open?(socket: Socket<Data>): void | Promise<void>
  data?(socket: Socket<Data>, data: BinaryTypeList[DataBinaryType]): void | Promise<void>
  drain?(socket: Socket<Data>): void | Promise<void>
  end?(socket: Socket<Data>): void | Promise<void>
  close?(socket: Socket<Data>, error?: Error): void | Promise<void>
  error?(socket: Socket<Data>, error: Error): void | Promise<void>
  timeout?(socket: Socket<Data>): void | Promise<void>
  connectError?(socket: Socket<Data>, error: Error): void | Promise<void>
  binaryType?: DataBinaryType
}

export interface SocketOptions<Data = unknown> {
  socket: SocketHandler<Data>
  data?: Data
  allowHalfOpen?: boolean
}

export interface TCPSocketListenOptions<Data = undefined> extends SocketOptions<Data> {
  hostname: string
  port: number
  /** Refuse to share the port (no SO_REUSEPORT). */
  exclusive?: boolean
}

export interface TCPSocketConnectOptions<Data = undefined> extends SocketOptions<Data> {
  hostname: string
  port: number
}

export interface UnixSocketOptions<Data = undefined> extends SocketOptions<Data> {
  unix: string
}

export interface SocketListener<Data = undefined> {
  /** Stops accepting; with `true` also closes the accepted sockets. */
  stop(closeActiveConnections?: boolean): void
  ref(): void
  unref(): void
  reload(options: Pick<SocketOptions<Data>, 'socket'>): void
  data: Data
  readonly fd: number
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

export function connect<Data = undefined>(options: TCPSocketConnectOptions<Data>): Promise<Socket<Data>>
export function connect<Data = undefined>(options: UnixSocketOptions<Data>): Promise<Socket<Data>>

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
