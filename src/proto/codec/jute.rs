//! Jute primitives: a bounds-checked reader over a frame body and an
//! appending writer (digest §2).
//!
//! Every length read from the wire is checked against the bytes that are
//! actually left before anything is allocated, so a hostile length can cost
//! at most the size of the frame that carried it.

use super::DecodeError;

/// Reads jute values from a byte slice, front to back.
#[derive(Clone, Debug)]
pub struct JuteReader<'a> {
    buf: &'a [u8],
}

impl<'a> JuteReader<'a> {
    pub fn new(buf: &'a [u8]) -> JuteReader<'a> {
        JuteReader { buf }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unconsumed tail (for records followed by another record).
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// Any non-zero byte is true, as Java's reader has it.
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_u8()? != 0)
    }

    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.take_array()?))
    }

    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.take_array()?))
    }

    /// A length or count: -1 is null, anything else negative is an error.
    fn read_len(&mut self) -> Result<Option<usize>, DecodeError> {
        match self.read_i32()? {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError::NegativeLength(n)),
            n => usize::try_from(n)
                .map(Some)
                .map_err(|_| DecodeError::NegativeLength(n)),
        }
    }

    /// A buffer borrowed from the input; `None` is a null buffer.
    pub fn read_buffer_ref(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.read_len()? {
            None => Ok(None),
            Some(n) => self.take(n).map(Some),
        }
    }

    pub fn read_buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        Ok(self.read_buffer_ref()?.map(<[u8]>::to_vec))
    }

    /// A ustring, decoded lossily: invalid UTF-8 becomes U+FFFD, which path
    /// validation later rejects (see `messages`).
    pub fn read_ustring(&mut self) -> Result<Option<String>, DecodeError> {
        Ok(self
            .read_buffer_ref()?
            .map(|b| String::from_utf8_lossy(b).into_owned()))
    }

    /// A ustring where null carries no meaning of its own; null reads as "".
    pub fn read_string(&mut self) -> Result<String, DecodeError> {
        Ok(self.read_ustring()?.unwrap_or_default())
    }

    /// A vector whose elements each take at least `min_elem_len` bytes
    /// (must be >= 1). The count is checked against the remaining input so a
    /// forged count cannot make us reserve memory the frame does not back.
    pub fn read_vec<T>(
        &mut self,
        min_elem_len: usize,
        mut elem: impl FnMut(&mut JuteReader<'a>) -> Result<T, DecodeError>,
    ) -> Result<Option<Vec<T>>, DecodeError> {
        assert!(
            min_elem_len >= 1,
            "jute vector elements take at least one byte"
        );
        let Some(count) = self.read_len()? else {
            return Ok(None);
        };
        if count > self.remaining() / min_elem_len {
            return Err(DecodeError::Truncated);
        }
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            v.push(elem(self)?);
        }
        Ok(Some(v))
    }

    /// `vector<ustring>`; null elements read as "".
    pub fn read_string_vec(&mut self) -> Result<Option<Vec<String>>, DecodeError> {
        self.read_vec(4, JuteReader::read_string)
    }
}

/// Appends jute values to a byte vector.
#[derive(Debug)]
pub struct JuteWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> JuteWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> JuteWriter<'a> {
        JuteWriter { out }
    }

    pub fn write_u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub fn write_bool(&mut self, v: bool) {
        self.out.push(u8::from(v));
    }

    pub fn write_i32(&mut self, v: i32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    pub fn write_i64(&mut self, v: i64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// Lengths come from our own values, which are capped far below 2 GiB
    /// (jute.maxbuffer); exceeding i32 is a bug, not an input condition.
    fn write_len(&mut self, len: usize) {
        let len = i32::try_from(len).expect("jute length exceeds i32::MAX");
        self.write_i32(len);
    }

    /// `None` writes a null buffer (length -1).
    pub fn write_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.write_i32(-1),
            Some(b) => {
                self.write_len(b.len());
                self.out.extend_from_slice(b);
            }
        }
    }

    /// `None` writes a null string (length -1).
    pub fn write_ustring(&mut self, v: Option<&str>) {
        self.write_buffer(v.map(str::as_bytes));
    }

    pub fn write_string(&mut self, v: &str) {
        self.write_ustring(Some(v));
    }

    /// `None` writes a null vector (count -1).
    pub fn write_vec<T>(&mut self, v: Option<&[T]>, mut elem: impl FnMut(&mut Self, &T)) {
        match v {
            None => self.write_i32(-1),
            Some(items) => {
                self.write_len(items.len());
                for item in items {
                    elem(self, item);
                }
            }
        }
    }

    pub fn write_string_vec(&mut self, v: &[String]) {
        self.write_vec(Some(v), |w, s| w.write_string(s));
    }
}

/// Appends one complete frame to `out`: a 4-byte big-endian length, then
/// whatever `body` writes. Appends rather than overwrites, so callers can
/// batch several frames into one outbound buffer.
pub fn write_frame(out: &mut Vec<u8>, body: impl FnOnce(&mut JuteWriter<'_>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    body(&mut JuteWriter::new(out));
    let len = i32::try_from(out.len() - start - 4).expect("frame length exceeds i32::MAX");
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut buf = Vec::new();
        let mut w = JuteWriter::new(&mut buf);
        w.write_i32(-7);
        w.write_i64(1 << 40);
        w.write_bool(true);
        w.write_buffer(None);
        w.write_buffer(Some(b"ab"));
        w.write_ustring(Some("/x"));
        w.write_vec::<String>(None, |w, s| w.write_string(s));
        w.write_string_vec(&["a".to_owned(), String::new()]);
        let mut r = JuteReader::new(&buf);
        assert_eq!(r.read_i32().ok(), Some(-7));
        assert_eq!(r.read_i64().ok(), Some(1 << 40));
        assert_eq!(r.read_bool().ok(), Some(true));
        assert_eq!(r.read_buffer().ok(), Some(None));
        assert_eq!(r.read_buffer().ok(), Some(Some(b"ab".to_vec())));
        assert_eq!(r.read_ustring().ok(), Some(Some("/x".to_owned())));
        assert_eq!(r.read_string_vec().ok(), Some(None));
        assert_eq!(
            r.read_string_vec().ok(),
            Some(Some(vec!["a".to_owned(), String::new()]))
        );
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn bool_is_any_non_zero() {
        assert_eq!(JuteReader::new(&[0x7f]).read_bool().ok(), Some(true));
        assert_eq!(JuteReader::new(&[0]).read_bool().ok(), Some(false));
    }

    #[test]
    fn lengths_past_the_end_are_errors() {
        // A buffer claiming 2 GiB with 3 bytes behind it.
        let mut r = JuteReader::new(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
        assert!(matches!(r.read_buffer(), Err(DecodeError::Truncated)));
        // A vector claiming more elements than there are bytes.
        let mut r = JuteReader::new(&[0x00, 0x10, 0x00, 0x00, 0, 0, 0, 0]);
        assert!(matches!(r.read_string_vec(), Err(DecodeError::Truncated)));
        let mut r = JuteReader::new(&[0xff, 0xff, 0xff, 0xfe]);
        assert!(matches!(
            r.read_buffer(),
            Err(DecodeError::NegativeLength(-2))
        ));
        assert!(matches!(
            JuteReader::new(&[0, 0, 1]).read_i32(),
            Err(DecodeError::Truncated)
        ));
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        let mut r = JuteReader::new(&[0, 0, 0, 3, b'/', 0xff, b'a']);
        assert_eq!(r.read_ustring().ok(), Some(Some("/\u{fffd}a".to_owned())));
    }

    #[test]
    fn frame_prefix_counts_body_only() {
        let mut out = vec![9];
        write_frame(&mut out, |w| w.write_i32(5));
        assert_eq!(out, [9, 0, 0, 0, 4, 0, 0, 0, 5]);
    }
}
