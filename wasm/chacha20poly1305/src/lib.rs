//! ChaCha20-Poly1305 (RFC 8439 §2.8) for Citadel's WireGuard data plane,
//! built to WebAssembly with SIMD (network/crypto/chacha20poly1305.ts loads
//! it; `./dev wasm` rebuilds network/crypto/chacha20poly1305_wasm.ts).
//!
//! The module owns one scratch region; the caller copies a message's key,
//! nonce, associated data and text in, calls [`seal`] or [`open`], and copies
//! the result out. Nothing here allocates.
#![no_std]

mod chacha20;
mod poly1305;

use chacha20::{Stream, PASS_BYTES};
use poly1305::Poly1305;

/// Where the caller puts the key (32 bytes), nonce (12), tag (16) and then
/// the associated data and text: one region for all calls.
const SCRATCH_BYTES: usize = 128 * 1024 + 1024;

#[repr(C, align(16))]
struct Scratch([u8; SCRATCH_BYTES]);

static mut SCRATCH: Scratch = Scratch([0; SCRATCH_BYTES]);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// The scratch region's offset in memory.
#[no_mangle]
pub extern "C" fn scratch() -> *mut u8 {
    // Only the address is taken, which needs no unsafe.
    core::ptr::addr_of_mut!(SCRATCH) as *mut u8
}

/// The scratch region's length in bytes.
#[no_mangle]
pub extern "C" fn scratch_bytes() -> usize {
    SCRATCH_BYTES
}

/// The Poly1305 key (block 0's first 32 bytes) and the keystream of blocks
/// 1–3, which the first 192 bytes of text take.
fn first_pass(stream: &Stream) -> [u8; PASS_BYTES] {
    let mut first = [0u8; PASS_BYTES];
    stream.keystream(0, &mut first);
    first
}

fn xor_text(stream: &Stream, first: &[u8; PASS_BYTES], text: &mut [u8]) {
    let head = text.len().min(PASS_BYTES - 64);
    for (byte, key) in text[..head].iter_mut().zip(first[64..].iter()) {
        *byte ^= key;
    }
    if text.len() > head {
        stream.xor(4, &mut text[head..]);
    }
}

fn tag_of(first: &[u8; PASS_BYTES], ad: &[u8], ciphertext: &[u8]) -> [u8; 16] {
    let mut key = [0u8; 32];
    key.copy_from_slice(&first[..32]);
    let mut mac = Poly1305::new(&key);
    mac.update_padded(ad);
    mac.update_padded(ciphertext);
    let mut lengths = [0u8; 16];
    lengths[..8].copy_from_slice(&(ad.len() as u64).to_le_bytes());
    lengths[8..].copy_from_slice(&(ciphertext.len() as u64).to_le_bytes());
    mac.update_padded(&lengths);
    mac.finish()
}

/// The scratch's parts for one call; `None` when they do not fit.
struct Parts<'a> {
    key: &'a [u8; 32],
    nonce: &'a [u8; 12],
    tag: &'a mut [u8; 16],
    ad: &'a [u8],
    text: &'a mut [u8],
}

/// Layout: key at 0, nonce at 32, tag at 48, associated data at 64, text at
/// `text_at` (after the associated data).
fn parts(ad_len: usize, text_at: usize, text_len: usize) -> Option<Parts<'static>> {
    if 64 + ad_len > text_at || text_at.checked_add(text_len)? > SCRATCH_BYTES {
        return None;
    }
    // SAFETY: single-threaded module; each call takes the region once, and
    // the parts are disjoint by the check above.
    let all: &'static mut [u8; SCRATCH_BYTES] = unsafe { &mut (*core::ptr::addr_of_mut!(SCRATCH)).0 };
    let (head, text) = all.split_at_mut(text_at);
    let (fixed, rest) = head.split_at_mut(64);
    let (key, fixed) = fixed.split_at_mut(32);
    let (nonce, fixed) = fixed.split_at_mut(16);
    let tag = &mut fixed[..16];
    Some(Parts {
        key: (&*key).try_into().ok()?,
        nonce: (&nonce[..12]).try_into().ok()?,
        tag: tag.try_into().ok()?,
        ad: &rest[..ad_len],
        text: &mut text[..text_len],
    })
}

/// Encrypts the text in place and writes its tag. Returns 0, or −1 when the
/// lengths do not fit the scratch region.
#[no_mangle]
pub extern "C" fn seal(ad_len: usize, text_at: usize, text_len: usize) -> i32 {
    let Some(p) = parts(ad_len, text_at, text_len) else { return -1 };
    let stream = Stream::new(p.key, p.nonce);
    let first = first_pass(&stream);
    xor_text(&stream, &first, p.text);
    *p.tag = tag_of(&first, p.ad, p.text);
    0
}

/// Checks the tag over the ciphertext and, only when it is authentic,
/// decrypts the text in place. Returns 0 when authentic, −1 otherwise
/// (the text is then left as it was).
#[no_mangle]
pub extern "C" fn open(ad_len: usize, text_at: usize, text_len: usize) -> i32 {
    let Some(p) = parts(ad_len, text_at, text_len) else { return -1 };
    let stream = Stream::new(p.key, p.nonce);
    let first = first_pass(&stream);
    let expected = tag_of(&first, p.ad, p.text);
    // Constant time: every byte is compared whatever the first difference.
    let mut difference = 0u8;
    for (a, b) in expected.iter().zip(p.tag.iter()) {
        difference |= a ^ b;
    }
    if difference != 0 {
        return -1;
    }
    xor_text(&stream, &first, p.text);
    0
}

/// Plain Poly1305 of whole blocks at `text_at` under the 32-byte key in the
/// key slot, tag into the tag slot: for tests against RFC 8439's edge
/// vectors (A.3), which the AEAD's random inputs rarely reach. Returns −1
/// when the length is not a multiple of 16 or does not fit.
#[no_mangle]
pub extern "C" fn mac(text_at: usize, text_len: usize) -> i32 {
    if text_len % 16 != 0 {
        return -1;
    }
    let Some(p) = parts(0, text_at, text_len) else { return -1 };
    let mut key = [0u8; 32];
    key[..32].copy_from_slice(p.key);
    let mut poly = Poly1305::new(&key);
    poly.update_padded(p.text);
    *p.tag = poly.finish();
    0
}
