//! Client-port framing (digest §1, §16.1): splitting the inbound byte
//! stream into length-prefixed frames, and spotting a four-letter word in
//! the first 4 bytes of a connection that has no session yet.
//!
//! Owns only the frame boundary; what is inside a frame is the codec's.

/// Real ZK's default `jute.maxbuffer`: the largest inbound frame body.
pub const JUTE_MAX_BUFFER_DEFAULT: usize = 0xfffff;

/// The length prefix in front of every frame.
pub const FRAME_PREFIX_LEN: usize = 4;

/// A frame length the server must answer by closing the connection, with no
/// reply (digest §1).
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame length {len} exceeds the limit {max}")]
    TooLarge { len: usize, max: usize },
    #[error("negative frame length {0}")]
    Negative(i32),
}

/// Finds the first complete frame at the front of `buf`.
///
/// Returns `Ok(None)` until the whole frame has arrived, then the number of
/// bytes it takes (prefix included) and its body. The length is judged as
/// soon as the 4 prefix bytes are in, so an oversized frame is refused
/// before any of its body is buffered.
pub fn split_frame(buf: &[u8], max_frame_len: usize) -> Result<Option<(usize, &[u8])>, FrameError> {
    let Some(prefix) = buf.first_chunk::<FRAME_PREFIX_LEN>() else {
        return Ok(None);
    };
    let len = i32::from_be_bytes(*prefix);
    let body_len = usize::try_from(len).map_err(|_| FrameError::Negative(len))?;
    if body_len > max_frame_len {
        return Err(FrameError::TooLarge {
            len: body_len,
            max: max_frame_len,
        });
    }
    let total = FRAME_PREFIX_LEN + body_len;
    Ok(buf.get(FRAME_PREFIX_LEN..total).map(|body| (total, body)))
}

/// The four-letter words real ZK recognises (digest §16.1).
pub const FOUR_LETTER_WORDS: [&str; 18] = [
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk", "srst", "srvr", "stat",
    "wchc", "wchp", "wchs", "mntr", "isro", "hash",
];

/// Telnet's "interrupt process, do" sequence, which real ZK also treats as
/// a command (it just closes the connection).
pub const TELNET_CLOSE: [u8; 4] = [0xff, 0xf4, 0xff, 0xfd];

/// The known four-letter word these bytes spell, if any. Anything else is a
/// frame length (and [`TELNET_CLOSE`] is checked separately by the caller).
pub fn four_letter_word(first4: &[u8; 4]) -> Option<&'static str> {
    FOUR_LETTER_WORDS
        .iter()
        .copied()
        .find(|w| w.as_bytes() == first4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_whole_frame() {
        let frame = [0, 0, 0, 3, 1, 2, 3, 9];
        for cut in 0..7 {
            assert_eq!(split_frame(&frame[..cut], 10), Ok(None), "cut {cut}");
        }
        assert_eq!(split_frame(&frame, 10), Ok(Some((7, &frame[4..7]))));
    }

    #[test]
    fn empty_body_is_a_frame() {
        assert_eq!(split_frame(&[0, 0, 0, 0], 10), Ok(Some((4, &[][..]))));
    }

    #[test]
    fn limit_is_inclusive() {
        // 0x000fffff is allowed by default, one more is not (digest §1).
        let at = [0x00, 0x0f, 0xff, 0xff];
        assert_eq!(split_frame(&at, JUTE_MAX_BUFFER_DEFAULT), Ok(None));
        let over = [0x00, 0x10, 0x00, 0x00];
        assert_eq!(
            split_frame(&over, JUTE_MAX_BUFFER_DEFAULT),
            Err(FrameError::TooLarge {
                len: 0x100000,
                max: JUTE_MAX_BUFFER_DEFAULT
            })
        );
    }

    #[test]
    fn negative_length_is_refused() {
        assert_eq!(
            split_frame(&[0xff, 0xff, 0xff, 0xff], 10),
            Err(FrameError::Negative(-1))
        );
    }

    #[test]
    fn text_as_length_is_too_large() {
        // "abcd" is not a word, so it is a length of ~1.6 GB.
        assert!(matches!(
            split_frame(b"abcd", JUTE_MAX_BUFFER_DEFAULT),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn four_letter_words() {
        for w in FOUR_LETTER_WORDS {
            let bytes: &[u8; 4] = w.as_bytes().try_into().expect("words are 4 bytes");
            assert_eq!(four_letter_word(bytes), Some(w));
        }
        assert_eq!(four_letter_word(b"abcd"), None);
        assert_eq!(four_letter_word(b"RUOK"), None);
        assert_eq!(four_letter_word(&[0, 0, 0, 0x2d]), None);
        assert_eq!(four_letter_word(&TELNET_CLOSE), None);
    }
}
