//! Protobuf's wire format, read field by field: varints, length-delimited
//! bytes, and stepping over fields of other wire types. Malformed input
//! (a truncated field, a varint over ten bytes, a group) is [`Declined`].

use super::reader::{Declined, Res};

/// Wire types (`protobuf.dev/programming-guides/encoding`).
pub(super) const VARINT: u8 = 0;
pub(super) const LEN: u8 = 2;

pub(super) struct Wire<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Wire<'b> {
    pub fn new(bytes: &'b [u8]) -> Self {
        Wire { bytes, pos: 0 }
    }

    /// The next field's number and wire type, or `None` at the end.
    pub fn field(&mut self) -> Res<Option<(u64, u8)>> {
        if self.pos >= self.bytes.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let number = tag >> 3;
        if number == 0 {
            return Err(Declined);
        }
        Ok(Some((number, (tag & 7) as u8)))
    }

    pub fn varint(&mut self) -> Res<u64> {
        let mut value: u64 = 0;
        for shift in 0..10 {
            let byte = *self.bytes.get(self.pos).ok_or(Declined)?;
            self.pos += 1;
            // The tenth byte holds the 64th bit only.
            if shift == 9 && byte > 1 {
                return Err(Declined);
            }
            value |= u64::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Declined)
    }

    pub fn bytes(&mut self) -> Res<&'b [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| Declined)?;
        let end = self.pos.checked_add(len).ok_or(Declined)?;
        let bytes = self.bytes.get(self.pos..end).ok_or(Declined)?;
        self.pos = end;
        Ok(bytes)
    }

    pub fn string(&mut self) -> Res<&'b str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Declined)
    }

    /// A field of wire type `wire_type` that must be `want`: its value as
    /// the caller reads it next.
    pub fn expect(&self, wire_type: u8, want: u8) -> Res<()> {
        if wire_type == want {
            Ok(())
        } else {
            Err(Declined)
        }
    }

    /// Steps over a field's value (an unknown field).
    pub fn skip(&mut self, wire_type: u8) -> Res<()> {
        let width = match wire_type {
            VARINT => return self.varint().map(drop),
            LEN => return self.bytes().map(drop),
            1 => 8,
            5 => 4,
            // Groups (3, 4) are long deprecated; 6 and 7 do not exist.
            _ => return Err(Declined),
        };
        let end = self.pos.checked_add(width).ok_or(Declined)?;
        if end > self.bytes.len() {
            return Err(Declined);
        }
        self.pos = end;
        Ok(())
    }
}

/// Appends a varint.
pub(super) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a length-delimited field.
pub(super) fn put_bytes(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_varint(out, (number << 3) | u64::from(LEN));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends a varint field.
pub(super) fn put_varint_field(out: &mut Vec<u8>, number: u64, value: u64) {
    put_varint(out, number << 3);
    put_varint(out, value);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use super::*;

    #[test]
    fn varints_round_trip_and_overlong_ones_are_refused() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(Wire::new(&out).varint(), Ok(value));
        }
        assert_eq!(Wire::new(&[0xff; 10]).varint(), Err(Declined));
        assert_eq!(Wire::new(&[0x80]).varint(), Err(Declined));
        let mut truncated = Wire::new(&[0x0a, 5, 1]);
        assert_eq!(truncated.field(), Ok(Some((1, LEN))));
        assert_eq!(truncated.bytes(), Err(Declined));
    }

    #[test]
    fn unknown_fields_are_stepped_over_but_groups_refused() {
        let mut wire = Wire::new(&[0x0d, 1, 2, 3, 4, 0x08, 7]);
        let (_, fixed32) = wire.field().unwrap().unwrap();
        wire.skip(fixed32).unwrap();
        assert_eq!(wire.field(), Ok(Some((1, VARINT))));
        assert_eq!(wire.varint(), Ok(7));
        assert_eq!(wire.field(), Ok(None));
        let mut group = Wire::new(&[0x0b]);
        let (_, start_group) = group.field().unwrap().unwrap();
        assert_eq!(group.skip(start_group), Err(Declined));
    }
}
