//! Poly1305 (RFC 8439 §2.5) in five 26-bit limbs, so that every product of
//! two limbs fits a u64 (WebAssembly has no wider multiply). The AEAD pads
//! everything it authenticates to 16 bytes, so only whole blocks come here.

const MASK: u32 = 0x03ff_ffff;

pub struct Poly1305 {
    r: [u32; 5],
    h: [u32; 5],
    s: [u32; 4],
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl Poly1305 {
    /// `key` is r || s; r is clamped as §2.5 says.
    pub fn new(key: &[u8; 32]) -> Poly1305 {
        let r = [
            le32(key, 0) & 0x03ff_ffff,
            (le32(key, 3) >> 2) & 0x03ff_ff03,
            (le32(key, 6) >> 4) & 0x03ff_c0ff,
            (le32(key, 9) >> 6) & 0x03f0_3fff,
            (le32(key, 12) >> 8) & 0x000f_ffff,
        ];
        let s = [le32(key, 16), le32(key, 20), le32(key, 24), le32(key, 28)];
        Poly1305 { r, h: [0; 5], s }
    }

    /// Absorbs `data` in 16-byte blocks, the last one zero-padded (the
    /// AEAD's pad16; each block still gets its 2^128 bit, as §2.8 pads before
    /// Poly1305 sees the bytes).
    pub fn update_padded(&mut self, data: &[u8]) {
        let mut blocks = data.chunks_exact(16);
        for block in &mut blocks {
            self.block(block);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 16];
            last[..rest.len()].copy_from_slice(rest);
            self.block(&last);
        }
    }

    #[inline(always)]
    fn block(&mut self, m: &[u8]) {
        let [r0, r1, r2, r3, r4] = self.r.map(u64::from);
        let (s1, s2, s3, s4) = (r1 * 5, r2 * 5, r3 * 5, r4 * 5);
        let (t0, t1, t2, t3) = (le32(m, 0), le32(m, 4), le32(m, 8), le32(m, 12));
        let h0 = u64::from(self.h[0] + (t0 & MASK));
        let h1 = u64::from(self.h[1] + (((t0 >> 26) | (t1 << 6)) & MASK));
        let h2 = u64::from(self.h[2] + (((t1 >> 20) | (t2 << 12)) & MASK));
        let h3 = u64::from(self.h[3] + (((t2 >> 14) | (t3 << 18)) & MASK));
        let h4 = u64::from(self.h[4] + ((t3 >> 8) | (1 << 24)));

        let d0 = h0 * r0 + h1 * s4 + h2 * s3 + h3 * s2 + h4 * s1;
        let mut d1 = h0 * r1 + h1 * r0 + h2 * s4 + h3 * s3 + h4 * s2;
        let mut d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s4 + h4 * s3;
        let mut d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s4;
        let mut d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0;

        d1 += d0 >> 26;
        d2 += d1 >> 26;
        d3 += d2 >> 26;
        d4 += d3 >> 26;
        // The wrap of 2^130 folds back as 5 (2^130 ≡ 5); kept in 64 bits.
        let n0 = (d0 & MASK as u64) + (d4 >> 26) * 5;
        let n1 = (d1 as u32 & MASK) + (n0 >> 26) as u32;
        self.h = [n0 as u32 & MASK, n1, d2 as u32 & MASK, d3 as u32 & MASK, d4 as u32 & MASK];
    }

    /// The tag: h fully reduced mod 2^130 − 5, plus s, mod 2^128.
    pub fn finish(self) -> [u8; 16] {
        let [mut h0, mut h1, mut h2, mut h3, mut h4] = self.h;
        let mut c;
        c = h1 >> 26;
        h1 &= MASK;
        h2 += c;
        c = h2 >> 26;
        h2 &= MASK;
        h3 += c;
        c = h3 >> 26;
        h3 &= MASK;
        h4 += c;
        c = h4 >> 26;
        h4 &= MASK;
        h0 += c * 5;
        c = h0 >> 26;
        h0 &= MASK;
        h1 += c;

        // g = h + 5 − 2^130; take g when it did not go negative.
        let mut g0 = h0.wrapping_add(5);
        c = g0 >> 26;
        g0 &= MASK;
        let mut g1 = h1.wrapping_add(c);
        c = g1 >> 26;
        g1 &= MASK;
        let mut g2 = h2.wrapping_add(c);
        c = g2 >> 26;
        g2 &= MASK;
        let mut g3 = h3.wrapping_add(c);
        c = g3 >> 26;
        g3 &= MASK;
        let g4 = h4.wrapping_add(c).wrapping_sub(1 << 26);
        let take_g = (g4 >> 31).wrapping_sub(1); // all ones when g4 ≥ 0
        let keep_h = !take_g;
        h0 = (h0 & keep_h) | (g0 & take_g);
        h1 = (h1 & keep_h) | (g1 & take_g);
        h2 = (h2 & keep_h) | (g2 & take_g);
        h3 = (h3 & keep_h) | (g3 & take_g);
        h4 = (h4 & keep_h) | (g4 & take_g);

        let words = [
            h0 | (h1 << 26),
            (h1 >> 6) | (h2 << 20),
            (h2 >> 12) | (h3 << 14),
            (h3 >> 18) | (h4 << 8),
        ];
        let mut tag = [0u8; 16];
        let mut carry = 0u64;
        for i in 0..4 {
            let sum = u64::from(words[i]) + u64::from(self.s[i]) + carry;
            tag[4 * i..4 * i + 4].copy_from_slice(&(sum as u32).to_le_bytes());
            carry = sum >> 32;
        }
        tag
    }
}
