/**
 * HMAC-SHA-256 with a key fixed up front, for hashing column values on the
 * hot path. The SHA-256 states after the key's inner and outer pad blocks
 * are computed once, so a short value costs two block compressions.
 *
 * Why not `node:crypto`: under Deno its `createHmac` builds a keyed hash
 * object per call and cost about twelve times as much CPU per short value
 * as this implementation (27.8 against 2.3 µs on the project's loaded
 * machine; docs/benchmarks.md, "Column rules"), which would make a hashed
 * column a large share of a change's cost. The unit tests compare this
 * implementation with `node:crypto` over many lengths.
 *
 * @module
 */

/** SHA-256 block size in bytes; also the HMAC pad length. */
const BLOCK_BYTES = 64;
/** Digest size in bytes. */
const DIGEST_BYTES = 32;
/** Bytes of the big-endian bit length that ends SHA-256 padding. */
const LENGTH_BYTES = 8;
const INNER_PAD = 0x36;
const OUTER_PAD = 0x5c;
const STATE_WORDS = 8;
const SCHEDULE_WORDS = 64;
/** The largest value buffer kept between calls. */
const MAX_KEPT_BUFFER_BYTES = 64 * 1024;

/** SHA-256 round constants (FIPS 180-4, 4.2.2). */
const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);

/** SHA-256 initial hash value (FIPS 180-4, 5.3.3). */
const INITIAL_STATE = new Uint32Array([
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
]);

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** How a digest is written out. */
export type DigestEncoding = "hex" | "base64";

/**
 * HMAC-SHA-256 under one key. Not safe to share between concurrent callers
 * (it reuses its buffers), which JavaScript's single thread makes moot.
 *
 * @example
 * ```ts
 * const hmac = new Hmac256(new TextEncoder().encode("a secret of 16+ bytes"));
 * hmac.digest("alice@example.com", "hex"); // 64 hex digits, the same on every run
 * ```
 */
export class Hmac256 {
  readonly #innerState = new Uint32Array(STATE_WORDS);
  readonly #outerState = new Uint32Array(STATE_WORDS);
  readonly #state = new Uint32Array(STATE_WORDS);
  readonly #schedule = new Uint32Array(SCHEDULE_WORDS);
  readonly #encoder = new TextEncoder();
  #buffer = new Uint8Array(BLOCK_BYTES * 4);
  readonly #digest = new Uint8Array(DIGEST_BYTES);
  readonly #outerBlock = new Uint8Array(BLOCK_BYTES);

  /** Prepares the pad states of `key` (a key longer than a block is hashed first, per RFC 2104). */
  constructor(key: Uint8Array) {
    const padded = new Uint8Array(BLOCK_BYTES);
    if (key.length > BLOCK_BYTES) {
      padded.set(sha256(key));
    } else {
      padded.set(key);
    }
    const block = new Uint8Array(BLOCK_BYTES);
    for (
      const [pad, state] of [[INNER_PAD, this.#innerState], [OUTER_PAD, this.#outerState]] as const
    ) {
      for (let i = 0; i < BLOCK_BYTES; i++) block[i] = padded[i] ^ pad;
      state.set(INITIAL_STATE);
      compress(state, block, 0, this.#schedule);
    }
  }

  /** The HMAC of `text` (as UTF-8), written in `encoding`. */
  digest(text: string, encoding: DigestEncoding): string {
    const bytes = this.#mac(text);
    return encoding === "hex" ? toHex(bytes) : toBase64(bytes);
  }

  /** The HMAC of `text` as bytes; the array is reused by the next call. */
  #mac(text: string): Uint8Array {
    // Room for the UTF-8 text (at most 3 bytes per UTF-16 unit) and its padding.
    const needed = text.length * 3 + BLOCK_BYTES + LENGTH_BYTES;
    let buffer = this.#buffer;
    if (buffer.length < needed) {
      buffer = new Uint8Array(needed * 2);
      // A rare large value gets a buffer of its own rather than one kept forever.
      if (needed <= MAX_KEPT_BUFFER_BYTES) this.#buffer = buffer;
    }
    const { written } = this.#encoder.encodeInto(text, buffer);
    const state = this.#state;
    state.set(this.#innerState);
    hashRest(state, buffer, written, BLOCK_BYTES, this.#schedule);
    writeState(state, this.#outerBlock);
    state.set(this.#outerState);
    hashRest(state, this.#outerBlock, DIGEST_BYTES, BLOCK_BYTES, this.#schedule);
    writeState(state, this.#digest);
    return this.#digest;
  }
}

/**
 * SHA-256 of `data` (used for keys longer than a block).
 *
 * @example
 * ```ts
 * sha256(new Uint8Array()); // e3b0c442…
 * ```
 */
export function sha256(data: Uint8Array): Uint8Array {
  const buffer = new Uint8Array(data.length + BLOCK_BYTES + LENGTH_BYTES);
  buffer.set(data);
  const state = INITIAL_STATE.slice();
  hashRest(state, buffer, data.length, 0, new Uint32Array(SCHEDULE_WORDS));
  const digest = new Uint8Array(DIGEST_BYTES);
  writeState(state, digest);
  return digest;
}

/**
 * Pads the `length` bytes at the start of `buffer` and compresses them into
 * `state`; `prefixBytes` were already compressed (they count in the length).
 * `buffer` must have room for the padding.
 */
function hashRest(
  state: Uint32Array,
  buffer: Uint8Array,
  length: number,
  prefixBytes: number,
  schedule: Uint32Array,
): void {
  let end = length + 1 + LENGTH_BYTES;
  end += (BLOCK_BYTES - (end % BLOCK_BYTES)) % BLOCK_BYTES;
  buffer[length] = 0x80;
  buffer.fill(0, length + 1, end);
  const bits = (length + prefixBytes) * 8;
  // Lengths stay far below 2^53 bits: split into the two 32-bit words.
  const high = Math.floor(bits / 0x1_0000_0000);
  writeWord(buffer, end - LENGTH_BYTES, high);
  writeWord(buffer, end - LENGTH_BYTES / 2, bits >>> 0);
  for (let offset = 0; offset < end; offset += BLOCK_BYTES) {
    compress(state, buffer, offset, schedule);
  }
}

function writeState(state: Uint32Array, out: Uint8Array): void {
  for (let i = 0; i < STATE_WORDS; i++) writeWord(out, i * 4, state[i]);
}

/** Writes a 32-bit word big-endian. */
function writeWord(out: Uint8Array, at: number, word: number): void {
  out[at] = word >>> 24;
  out[at + 1] = word >>> 16;
  out[at + 2] = word >>> 8;
  out[at + 3] = word;
}

/** One SHA-256 block compression of `block[offset..offset+64]` into `state`. */
function compress(state: Uint32Array, block: Uint8Array, offset: number, w: Uint32Array): void {
  for (let i = 0; i < 16; i++) {
    const at = offset + i * 4;
    w[i] = (block[at] << 24) | (block[at + 1] << 16) | (block[at + 2] << 8) | block[at + 3];
  }
  for (let i = 16; i < SCHEDULE_WORDS; i++) {
    const x = w[i - 15];
    const y = w[i - 2];
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3];
  let e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < SCHEDULE_WORDS; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const choice = (e & f) ^ (~e & g);
    const t1 = (h + s1 + choice + K[i] + w[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const majority = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (s0 + majority) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
}

function toHex(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += HEX[bytes[i]];
  return text;
}

const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function toBase64(bytes: Uint8Array): string {
  let text = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const triple = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    text += BASE64_ALPHABET[triple >>> 18] + BASE64_ALPHABET[(triple >>> 12) & 63] +
      BASE64_ALPHABET[(triple >>> 6) & 63] + BASE64_ALPHABET[triple & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const single = bytes[i] << 16;
    text += BASE64_ALPHABET[single >>> 18] + BASE64_ALPHABET[(single >>> 12) & 63] + "==";
  } else if (rest === 2) {
    const pair = (bytes[i] << 16) | (bytes[i + 1] << 8);
    text += BASE64_ALPHABET[pair >>> 18] + BASE64_ALPHABET[(pair >>> 12) & 63] +
      BASE64_ALPHABET[(pair >>> 6) & 63] + "=";
  }
  return text;
}
