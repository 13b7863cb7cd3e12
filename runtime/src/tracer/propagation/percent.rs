//! Percent-encoding of baggage values: what W3C baggage allows as is, everything else as
//! `%XX`, decoded strictly.

/// Whether a byte is one of RFC 3986's unreserved characters, sent as it is.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes everything but RFC 3986's unreserved characters, which is valid in a
/// W3C baggage value and what Python's `urllib.parse.unquote` reads back.
pub(super) fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(encoded_len(text));
    for &byte in text.as_bytes() {
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            out.extend(['%', char::from(HEX[usize::from(byte >> 4)]), char::from(HEX[usize::from(byte & 15)])]);
        }
    }
    out
}

/// The length of `percent_encode(text)`, without encoding it.
pub(super) fn encoded_len(text: &str) -> usize {
    text.bytes().map(|byte| if is_unreserved(byte) { 1 } else { 3 }).sum()
}

/// Strict percent-decoding: every `%` starts two hex digits, and the bytes are UTF-8.
pub(super) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let digit = |byte: u8| char::from(byte).to_digit(16);
            out.push(u8::try_from(digit(hex[0])? * 16 + digit(hex[1])?).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_round_trips_any_text() {
        for text in ["", "plain", "a,b c%d", "{\"k\":\"é✓\"}", "\u{0}\u{7f}"] {
            let encoded = percent_encode(text);
            assert_eq!(encoded.len(), encoded_len(text));
            assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            assert_eq!(percent_decode(&encoded).as_deref(), Some(text));
        }
    }

    #[test]
    fn percent_decoding_is_strict() {
        for bad in ["%", "%4", "%zz", "%C3", "%FF%FE"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }
}
