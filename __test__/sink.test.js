'use strict'
// ArrayBufferSink: Bun's documented behaviour and the details Bun 1.4.4 shows when probed (return
// types, flush outside stream mode, end twice, start twice, errors). Under `bun test` this runs
// against Bun's own sink, so every expectation here is Bun's.

const { ArrayBufferSink } = require('bun')

const tag = (value) => Object.prototype.toString.call(value)
const bytes = (value) =>
  Array.from(
    ArrayBuffer.isView(value) ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value),
  )
const text = (value) => Buffer.from(bytes(value)).toString('utf8')

/** The error `fn` throws (fails the test if it returns). */
function thrown(fn) {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}

const WRITE_EXPECTS = 'write() expects a string, ArrayBufferView, or ArrayBuffer'

/** An exactly sized ArrayBuffer, as end() and flush() return. */
function expectArrayBuffer(value, expected) {
  expect(tag(value)).toBe('[object ArrayBuffer]')
  expect(value.constructor.name).toBe('ArrayBuffer')
  expect(value.resizable).toBe(false)
  expect(bytes(value)).toEqual(expected)
}

/** A Uint8Array alone in its exactly sized buffer. */
function expectUint8Array(value, expected) {
  expect(tag(value)).toBe('[object Uint8Array]')
  expect(value.constructor.name).toBe('Uint8Array')
  expect(value.byteOffset).toBe(0)
  expect(value.buffer.byteLength).toBe(value.byteLength)
  expect(tag(value.buffer)).toBe('[object ArrayBuffer]')
  expect(bytes(value)).toEqual(expected)
}

describe('ArrayBufferSink', () => {
  test('builds an ArrayBuffer from incremental writes (the documented example)', () => {
    const sink = new ArrayBufferSink()
    expect([...'hello'].map((c) => sink.write(c))).toEqual([1, 1, 1, 1, 1])
    expectArrayBuffer(sink.end(), [104, 101, 108, 108, 111])
  })

  test('is an object tagged ArrayBufferSink with Bun methods, constructible with or without new', () => {
    const sink = new ArrayBufferSink()
    expect(tag(sink)).toBe('[object ArrayBufferSink]')
    expect(sink.constructor).toBe(ArrayBufferSink)
    expect(ArrayBufferSink.name).toBe('ArrayBufferSink')
    for (const name of ['start', 'write', 'flush', 'end', 'close', 'ref', 'unref']) {
      expect(typeof sink[name]).toBe('function')
    }
    expect(tag(ArrayBufferSink())).toBe('[object ArrayBufferSink]')
    expect(new ArrayBufferSink().end().byteLength).toBe(0)
  })

  test('asUint8Array makes end() return a Uint8Array', () => {
    const sink = new ArrayBufferSink()
    expect(sink.start({ asUint8Array: true })).toBeUndefined()
    sink.write('hel')
    sink.write('lo')
    expectUint8Array(sink.end(), [104, 101, 108, 108, 111])
  })

  describe('write', () => {
    test('encodes strings as UTF-8 and returns the byte count', () => {
      const sink = new ArrayBufferSink()
      expect(sink.write('abc')).toBe(3)
      expect(sink.write('é')).toBe(2)
      expect(sink.write('中文')).toBe(6)
      expect(sink.write('😀')).toBe(4)
      expect(sink.write('')).toBe(0)
      expect(text(sink.end())).toBe('abcé中文😀')
    })

    test('turns lone surrogates into U+FFFD', () => {
      const sink = new ArrayBufferSink()
      expect(sink.write('a\ud800b')).toBe(5)
      expect(sink.write('\udc00')).toBe(3)
      expect(bytes(sink.end())).toEqual([97, 0xef, 0xbf, 0xbd, 98, 0xef, 0xbf, 0xbd])
    })

    test('encodes long strings too', () => {
      const sink = new ArrayBufferSink()
      const long = 'ab€😀'.repeat(5000)
      expect(sink.write(long)).toBe(Buffer.byteLength(long))
      expect(text(sink.end())).toBe(long)
    })

    test('takes String objects by their value', () => {
      const sink = new ArrayBufferSink()
      expect(sink.write(new String('héy'))).toBe(4)
      expect(text(sink.end())).toBe('héy')
    })

    test('copies the bytes of Buffers, typed arrays and DataViews, honouring their offsets', () => {
      const backing = new ArrayBuffer(8)
      new Uint8Array(backing).set([1, 2, 3, 4, 5, 6, 7, 8])
      const u16 = new Uint16Array(backing, 2, 2)
      const sink = new ArrayBufferSink()
      expect(sink.write(Buffer.from('hi'))).toBe(2)
      expect(sink.write(Buffer.from('hello').subarray(1, 3))).toBe(2)
      expect(sink.write(new Uint8Array(backing, 5, 2))).toBe(2)
      expect(sink.write(u16)).toBe(4)
      expect(sink.write(new DataView(backing, 1, 2))).toBe(2)
      expect(sink.write(new Float64Array([1]))).toBe(8)
      expect(sink.write(new Uint8Array(0))).toBe(0)
      expect(bytes(sink.end())).toEqual([
        104, 105, 101, 108, 6, 7, ...bytes(new Uint8Array(u16.buffer, u16.byteOffset, 4)), 2, 3,
        ...bytes(new Float64Array([1])),
      ])
    })

    test('takes ArrayBuffers and SharedArrayBuffers whole', () => {
      const ab = new Uint8Array([1, 2, 3]).buffer
      const sab = new SharedArrayBuffer(2)
      new Uint8Array(sab).set([9, 8])
      const sink = new ArrayBufferSink()
      expect(sink.write(ab)).toBe(3)
      expect(sink.write(sab)).toBe(2)
      expect(sink.write(new ArrayBuffer(0))).toBe(0)
      expectArrayBuffer(sink.end(), [1, 2, 3, 9, 8])
    })

    test('copies at write time: later changes to the source do not show', () => {
      const source = new Uint8Array([1, 2, 3])
      const sink = new ArrayBufferSink()
      sink.write(source)
      source[0] = 99
      expectArrayBuffer(sink.end(), [1, 2, 3])
    })

    test('grows to hold many writes in order', () => {
      const sink = new ArrayBufferSink()
      const parts = []
      for (let i = 0; i < 20000; i++) {
        const part = `${i},`
        parts.push(part)
        sink.write(i % 2 ? part : Buffer.from(part))
      }
      sink.write(new Uint8Array(300000).fill(120))
      const out = text(sink.end())
      expect(out.length).toBe(parts.join('').length + 300000)
      expect(out.startsWith(parts.join(''))).toBe(true)
      expect(out.endsWith('x'.repeat(300000))).toBe(true)
    })

    test.each([
      ['no argument', [], 'ERR_MISSING_ARGS'],
      ['undefined', [undefined], 'ERR_STREAM_NULL_VALUES'],
      ['null', [null], 'ERR_STREAM_NULL_VALUES'],
      ['a number', [42], 'ERR_INVALID_ARG_TYPE'],
      ['a boolean', [true], 'ERR_INVALID_ARG_TYPE'],
      ['a plain object', [{ toString: () => 'x' }], 'ERR_INVALID_ARG_TYPE'],
      ['an array', [[1, 2]], 'ERR_INVALID_ARG_TYPE'],
      ['a Blob', [new Blob(['ab'])], 'ERR_INVALID_ARG_TYPE'],
    ])('rejects %s with a TypeError and stays usable', (_, args, code) => {
      const sink = new ArrayBufferSink()
      sink.write('a')
      const err = thrown(() => sink.write(...args))
      expect(err).toBeInstanceOf(TypeError)
      expect(err.code).toBe(code)
      expect(err.message).toBe(WRITE_EXPECTS)
      sink.write('b')
      expectArrayBuffer(sink.end(), [97, 98])
    })

    test('refuses a foreign this with ERR_INVALID_THIS', () => {
      const sink = new ArrayBufferSink()
      for (const name of ['write', 'flush', 'end', 'start']) {
        const err = thrown(() => sink[name].call({}, 'x'))
        expect(err).toBeInstanceOf(TypeError)
        expect(err.code).toBe('ERR_INVALID_THIS')
        expect(err.message).toBe('Expected ArrayBufferSink')
      }
    })
  })

  describe('flush', () => {
    test('outside stream mode returns 0 and keeps the data', () => {
      const sink = new ArrayBufferSink()
      sink.write('hello')
      expect(sink.flush()).toBe(0)
      sink.write('!')
      expect(sink.flush()).toBe(0)
      expectArrayBuffer(sink.end(), [...Buffer.from('hello!')])

      const u8 = new ArrayBufferSink()
      u8.start({ asUint8Array: true })
      u8.write('x')
      expect(u8.flush()).toBe(0)
    })

    test('in stream mode returns the bytes since the last flush as an ArrayBuffer (the documented example)', () => {
      const sink = new ArrayBufferSink()
      sink.start({ stream: true, highWaterMark: 1024 })
      for (const c of 'hel') sink.write(c)
      expectArrayBuffer(sink.flush(), [104, 101, 108])
      expectArrayBuffer(sink.flush(), [])
      sink.write('l')
      sink.write('o')
      expectArrayBuffer(sink.flush(), [108, 111])
    })

    test('with stream and asUint8Array returns Uint8Arrays, each with its own memory', () => {
      const sink = new ArrayBufferSink()
      sink.start({ stream: true, asUint8Array: true })
      sink.write('abc')
      const first = sink.flush()
      sink.write('XYZ')
      const second = sink.flush()
      expectUint8Array(first, [97, 98, 99])
      expectUint8Array(second, [88, 89, 90])
      expect(first.buffer).not.toBe(second.buffer)
      expectUint8Array(sink.flush(), [])
    })

    test('ignores its argument', () => {
      const sink = new ArrayBufferSink()
      sink.start({ stream: true })
      sink.write('a')
      expectArrayBuffer(sink.flush(true), [97])
      sink.write('b')
      expectArrayBuffer(sink.flush(false), [98])
    })
  })

  describe('end', () => {
    test('in stream mode returns what was not flushed, in the chosen type', () => {
      const sink = new ArrayBufferSink()
      sink.start({ stream: true })
      sink.write('hel')
      sink.flush()
      sink.write('lo')
      expectArrayBuffer(sink.end(), [108, 111])

      const u8 = new ArrayBufferSink()
      u8.start({ stream: true, asUint8Array: true })
      u8.write('hi')
      expectUint8Array(u8.end(), [104, 105])
    })

    test('a second end() returns an empty ArrayBuffer, even with asUint8Array', () => {
      const sink = new ArrayBufferSink()
      sink.start({ asUint8Array: true })
      sink.write('abc')
      expectUint8Array(sink.end(), [97, 98, 99])
      expectArrayBuffer(sink.end(), [])
    })

    test('writes after end() are counted but only a stream flush() can still return them', () => {
      const plain = new ArrayBufferSink()
      plain.write('a')
      plain.end()
      expect(plain.write('bc')).toBe(2)
      expect(plain.flush()).toBe(0)
      expectArrayBuffer(plain.end(), [])

      const stream = new ArrayBufferSink()
      stream.start({ stream: true, asUint8Array: true })
      stream.end()
      expect(stream.write('z')).toBe(1)
      expectArrayBuffer(stream.end(), [])
      expectUint8Array(stream.flush(), [122])
    })
  })

  describe('start', () => {
    test('re-arms the sink after end()', () => {
      const sink = new ArrayBufferSink()
      sink.write('old')
      sink.end()
      sink.start()
      sink.write('ab')
      expectArrayBuffer(sink.end(), [97, 98])
    })

    test('discards what was written before it', () => {
      const sink = new ArrayBufferSink()
      sink.write('ab')
      sink.start()
      sink.write('c')
      expectArrayBuffer(sink.end(), [99])
    })

    test('without options (or with none it recognises) keeps the previous modes', () => {
      const sink = new ArrayBufferSink()
      sink.start({ stream: true, asUint8Array: true })
      sink.write('abc')
      sink.start()
      sink.write('d')
      expectUint8Array(sink.flush(), [100])
      sink.start({})
      sink.write('e')
      expectUint8Array(sink.flush(), [101])
      sink.start({ stream: 1, asUint8Array: 'yes' })
      sink.write('f')
      expectUint8Array(sink.flush(), [102])
    })

    test('with options replaces both modes, missing ones becoming false', () => {
      const sink = new ArrayBufferSink()
      sink.start({ stream: true, asUint8Array: true })
      sink.start({ stream: false })
      sink.write('c')
      expect(sink.flush()).toBe(0)
      expectArrayBuffer(sink.end(), [99])

      const other = new ArrayBufferSink()
      other.start({ stream: true })
      other.start({ highWaterMark: 16 })
      other.write('x')
      expect(other.flush()).toBe(0)
    })

    test('only true booleans switch stream and asUint8Array on', () => {
      for (const value of [1, 'true', {}, new Boolean(true)]) {
        const sink = new ArrayBufferSink()
        sink.start({ stream: value, asUint8Array: value })
        sink.write('a')
        expect(sink.flush()).toBe(0)
        expectArrayBuffer(sink.end(), [97])
      }
    })

    test('reads stream through the prototype chain but asUint8Array only as an own property', () => {
      const sink = new ArrayBufferSink()
      sink.start(Object.create({ stream: true, asUint8Array: true }))
      sink.write('a')
      expectArrayBuffer(sink.flush(), [97])
    })

    test('ignores non-object options and odd highWaterMarks', () => {
      for (const options of [null, 5, 'x', { highWaterMark: -1 }, { highWaterMark: NaN }, { highWaterMark: 2 ** 40 }]) {
        const sink = new ArrayBufferSink()
        expect(sink.start(options)).toBeUndefined()
        sink.write('ab')
        expectArrayBuffer(sink.end(), [97, 98])
      }
    })

    test('lets a throwing option getter through', () => {
      const sink = new ArrayBufferSink()
      const boom = new Error('boom')
      expect(thrown(() => sink.start({ get stream() { throw boom } }))).toBe(boom)
    })
  })

  describe('close', () => {
    test('detaches the sink: every later call throws, close itself stays harmless', () => {
      const sink = new ArrayBufferSink()
      sink.write('ab')
      expect(sink.close()).toBeUndefined()
      for (const call of [() => sink.write('c'), () => sink.flush(), () => sink.end(), () => sink.start()]) {
        const err = thrown(call)
        expect(err).toBeInstanceOf(Error)
        expect(err.message).toMatch(/^This ArrayBufferSink has already been closed\./)
      }
      expect(sink.close()).toBeUndefined()
    })
  })
})
