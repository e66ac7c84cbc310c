;; The kernel of `anchor-search.ts`: finds where a 3-byte fingerprint of some literal
;; occurs in a text, 16 positions at a time (the "Teddy" technique of Hyperscan and
;; Rust's aho-corasick, simplified).
;;
;; For each of the three bytes of a window, two 16-byte tables, indexed by the byte's
;; low and high nibble, give a set of 8 buckets (one bit each): the buckets holding a
;; fingerprint with a byte of that nibble there. A position whose three bytes agree on a
;; bucket may start a fingerprint; `i8x16.swizzle` looks up 16 positions at once, and a
;; block of 16 where no bucket agrees (most of them) costs a dozen instructions. Each
;; position that survives is looked up exactly in a table of the fingerprints, keyed by
;; their three 7-bit bytes, and written out with the fingerprint's slot there. The
;; caller compares the whole literal.
;;
;; Memory, as the caller lays it out:
;;   [0, 96)           the tables: low, high nibble for byte 0, then byte 1, then byte 2
;;   [1024, 2098176)   the slots: at 1024 + (b0 << 14 | b1 << 7 | b2), which fingerprints
;;                     have these bytes (1 to 255; 0 for none)
;;   text              the bytes (fewer than 2^24), followed by at least 32 zero bytes
;;                     (the loads of the last block read up to 18 bytes past the end)
;;   out               room for `cap` 32-bit candidates: position << 8 | slot
;; `find` returns how many candidates it wrote, or -1 when they would be more than `cap`.
(module
  (memory (export "memory") 33)
  (func (export "find") (param $text i32) (param $len i32) (param $out i32) (param $cap i32) (result i32)
    (local $i i32) (local $n i32) (local $bits i32) (local $at i32) (local $key i32) (local $slot i32)
    (local $match v128) (local $bytes v128) (local $low v128)
    (local $lo0 v128) (local $hi0 v128) (local $lo1 v128) (local $hi1 v128) (local $lo2 v128) (local $hi2 v128)
    (local.set $low (i8x16.splat (i32.const 15)))
    (local.set $lo0 (v128.load (i32.const 0)))
    (local.set $hi0 (v128.load (i32.const 16)))
    (local.set $lo1 (v128.load (i32.const 32)))
    (local.set $hi1 (v128.load (i32.const 48)))
    (local.set $lo2 (v128.load (i32.const 64)))
    (local.set $hi2 (v128.load (i32.const 80)))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        ;; buckets(byte k of the window at each of the 16 positions), for k = 0, 1, 2
        (local.set $bytes (v128.load (i32.add (local.get $text) (local.get $i))))
        (local.set $match (v128.and
          (i8x16.swizzle (local.get $lo0) (v128.and (local.get $bytes) (local.get $low)))
          (i8x16.swizzle (local.get $hi0) (i8x16.shr_u (local.get $bytes) (i32.const 4)))))
        (local.set $bytes (v128.load offset=1 (i32.add (local.get $text) (local.get $i))))
        (local.set $match (v128.and (local.get $match) (v128.and
          (i8x16.swizzle (local.get $lo1) (v128.and (local.get $bytes) (local.get $low)))
          (i8x16.swizzle (local.get $hi1) (i8x16.shr_u (local.get $bytes) (i32.const 4))))))
        (local.set $bytes (v128.load offset=2 (i32.add (local.get $text) (local.get $i))))
        (local.set $match (v128.and (local.get $match) (v128.and
          (i8x16.swizzle (local.get $lo2) (v128.and (local.get $bytes) (local.get $low)))
          (i8x16.swizzle (local.get $hi2) (i8x16.shr_u (local.get $bytes) (i32.const 4))))))
        (if (v128.any_true (local.get $match))
          (then
            (local.set $bits (i8x16.bitmask (i8x16.ne (local.get $match) (v128.const i64x2 0 0))))
            ;; Positions past the end need no mask: their first byte is padding, 0,
            ;; which starts no fingerprint, so their slot is 0.
            (block $checked
              (loop $candidates
                (br_if $checked (i32.eqz (local.get $bits)))
                (local.set $at (i32.add (local.get $i) (i32.ctz (local.get $bits))))
                (local.set $key (i32.add (local.get $text) (local.get $at)))
                ;; Bytes over 127 are folded to 7 bits: fingerprints are ASCII, so a
                ;; folded key can only add a candidate, which the caller rejects.
                (local.set $key (i32.or (i32.or
                  (i32.shl (i32.and (i32.load8_u (local.get $key)) (i32.const 127)) (i32.const 14))
                  (i32.shl (i32.and (i32.load8_u offset=1 (local.get $key)) (i32.const 127)) (i32.const 7)))
                  (i32.and (i32.load8_u offset=2 (local.get $key)) (i32.const 127))))
                (local.set $slot (i32.load8_u offset=1024 (local.get $key)))
                (if (local.get $slot)
                  (then
                    (if (i32.ge_u (local.get $n) (local.get $cap)) (then (return (i32.const -1))))
                    (i32.store (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2)))
                      (i32.or (i32.shl (local.get $at) (i32.const 8)) (local.get $slot)))
                    (local.set $n (i32.add (local.get $n) (i32.const 1)))))
                (local.set $bits (i32.and (local.get $bits) (i32.sub (local.get $bits) (i32.const 1))))
                (br $candidates)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $blocks)))
    (local.get $n)))
