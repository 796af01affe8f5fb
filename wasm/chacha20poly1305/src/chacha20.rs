//! ChaCha20 (RFC 8439 §2.3–2.4), four blocks per pass: each of the sixteen
//! state words is one v128 whose lanes belong to four consecutive blocks.

use core::arch::wasm32::*;

/// "expand 32-byte k" (RFC 8439 §2.3).
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// Bytes of keystream one pass makes.
pub const PASS_BYTES: usize = 256;

/// The key and nonce of one message, as the little-endian words of the state.
pub struct Stream {
    key: [u32; 8],
    nonce: [u32; 3],
}

impl Stream {
    pub fn new(key: &[u8; 32], nonce: &[u8; 12]) -> Stream {
        let mut k = [0u32; 8];
        for (i, word) in k.iter_mut().enumerate() {
            *word = u32::from_le_bytes([key[4 * i], key[4 * i + 1], key[4 * i + 2], key[4 * i + 3]]);
        }
        let mut n = [0u32; 3];
        for (i, word) in n.iter_mut().enumerate() {
            *word = u32::from_le_bytes([
                nonce[4 * i],
                nonce[4 * i + 1],
                nonce[4 * i + 2],
                nonce[4 * i + 3],
            ]);
        }
        Stream { key: k, nonce: n }
    }

    /// Blocks `counter` to `counter + 3`, each row transposed to one block's
    /// four words: `out[4 * b + r]` holds words 4r..4r+3 of block b.
    #[inline(always)]
    fn pass(&self, counter: u32) -> [v128; 16] {
        let initial: [v128; 16] = [
            u32x4_splat(SIGMA[0]),
            u32x4_splat(SIGMA[1]),
            u32x4_splat(SIGMA[2]),
            u32x4_splat(SIGMA[3]),
            u32x4_splat(self.key[0]),
            u32x4_splat(self.key[1]),
            u32x4_splat(self.key[2]),
            u32x4_splat(self.key[3]),
            u32x4_splat(self.key[4]),
            u32x4_splat(self.key[5]),
            u32x4_splat(self.key[6]),
            u32x4_splat(self.key[7]),
            u32x4(
                counter,
                counter.wrapping_add(1),
                counter.wrapping_add(2),
                counter.wrapping_add(3),
            ),
            u32x4_splat(self.nonce[0]),
            u32x4_splat(self.nonce[1]),
            u32x4_splat(self.nonce[2]),
        ];
        let mut x = initial;
        for _ in 0..10 {
            quarter_round(&mut x, 0, 4, 8, 12);
            quarter_round(&mut x, 1, 5, 9, 13);
            quarter_round(&mut x, 2, 6, 10, 14);
            quarter_round(&mut x, 3, 7, 11, 15);
            quarter_round(&mut x, 0, 5, 10, 15);
            quarter_round(&mut x, 1, 6, 11, 12);
            quarter_round(&mut x, 2, 7, 8, 13);
            quarter_round(&mut x, 3, 4, 9, 14);
        }
        for i in 0..16 {
            x[i] = u32x4_add(x[i], initial[i]);
        }
        let mut out = [u32x4_splat(0); 16];
        for row in 0..4 {
            let [b0, b1, b2, b3] = transpose(x[4 * row], x[4 * row + 1], x[4 * row + 2], x[4 * row + 3]);
            out[row] = b0;
            out[4 + row] = b1;
            out[8 + row] = b2;
            out[12 + row] = b3;
        }
        out
    }

    /// Writes the 256 bytes of keystream from block `counter` on into `out`.
    pub fn keystream(&self, counter: u32, out: &mut [u8; PASS_BYTES]) {
        let blocks = self.pass(counter);
        for (i, v) in blocks.iter().enumerate() {
            // SAFETY: 16 · 16 = 256 bytes, inside `out`; v128 stores need no alignment.
            unsafe { v128_store(out.as_mut_ptr().add(16 * i) as *mut v128, *v) };
        }
    }

    /// XORs `data` with the keystream from block `counter` on.
    pub fn xor(&self, mut counter: u32, data: &mut [u8]) {
        let mut chunks = data.chunks_exact_mut(PASS_BYTES);
        for chunk in &mut chunks {
            let blocks = self.pass(counter);
            for (i, v) in blocks.iter().enumerate() {
                // SAFETY: 16 · 16 = 256 bytes, the chunk's length; unaligned v128 access is allowed.
                unsafe {
                    let at = chunk.as_mut_ptr().add(16 * i) as *mut v128;
                    v128_store(at, v128_xor(v128_load(at), *v));
                }
            }
            counter = counter.wrapping_add(4);
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let mut stream = [0u8; PASS_BYTES];
            self.keystream(counter, &mut stream);
            for (byte, key) in rest.iter_mut().zip(stream.iter()) {
                *byte ^= key;
            }
        }
    }
}

#[inline(always)]
fn quarter_round(x: &mut [v128; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = u32x4_add(x[a], x[b]);
    x[d] = rotate_16(v128_xor(x[d], x[a]));
    x[c] = u32x4_add(x[c], x[d]);
    x[b] = rotate_12(v128_xor(x[b], x[c]));
    x[a] = u32x4_add(x[a], x[b]);
    x[d] = rotate_8(v128_xor(x[d], x[a]));
    x[c] = u32x4_add(x[c], x[d]);
    x[b] = rotate_7(v128_xor(x[b], x[c]));
}

// Rotations by whole bytes are one shuffle; the others a shift pair.
#[inline(always)]
fn rotate_16(v: v128) -> v128 {
    i8x16_shuffle::<2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13>(v, v)
}

#[inline(always)]
fn rotate_8(v: v128) -> v128 {
    i8x16_shuffle::<3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14>(v, v)
}

#[inline(always)]
fn rotate_12(v: v128) -> v128 {
    v128_or(u32x4_shl(v, 12), u32x4_shr(v, 20))
}

#[inline(always)]
fn rotate_7(v: v128) -> v128 {
    v128_or(u32x4_shl(v, 7), u32x4_shr(v, 25))
}

/// Lane i of the inputs is block i: returns each block's four words.
#[inline(always)]
fn transpose(a: v128, b: v128, c: v128, d: v128) -> [v128; 4] {
    let ab_low = i32x4_shuffle::<0, 4, 1, 5>(a, b);
    let ab_high = i32x4_shuffle::<2, 6, 3, 7>(a, b);
    let cd_low = i32x4_shuffle::<0, 4, 1, 5>(c, d);
    let cd_high = i32x4_shuffle::<2, 6, 3, 7>(c, d);
    [
        i32x4_shuffle::<0, 1, 4, 5>(ab_low, cd_low),
        i32x4_shuffle::<2, 3, 6, 7>(ab_low, cd_low),
        i32x4_shuffle::<0, 1, 4, 5>(ab_high, cd_high),
        i32x4_shuffle::<2, 3, 6, 7>(ab_high, cd_high),
    ]
}
