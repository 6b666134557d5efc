//! The legacy text payloads (docs/protocol.md §1.1, 1.3, 1.4): UTF-8, entries
//! separated by `#` or `;`, empty entries ignored, duplicates counted once.

use super::pt::{PULL_REQ_CHUNK, PULL_RSP_MAX_IDS};
use std::fmt::Write as _;

/// A payload that is not valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotUtf8;

/// Splits a list payload (`a#b;c`) into its distinct non-empty entries, in
/// first-seen order.
///
/// # Errors
///
/// [`NotUtf8`] for a payload that is not UTF-8.
pub fn split_ids(payload: &[u8]) -> Result<Vec<&str>, NotUtf8> {
    let text = std::str::from_utf8(payload).map_err(|_| NotUtf8)?;
    let mut ids: Vec<&str> = Vec::new();
    for id in text.split(['#', ';']).filter(|s| !s.is_empty()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Like [`split_ids`] but tolerant of invalid UTF-8: each entry that is not
/// valid UTF-8 on its own is skipped. Used for `SSRC_ACK` datagrams, which
/// may be split inside an id or a character.
#[must_use]
pub fn split_ids_lossy(payload: &[u8]) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for part in payload.split(|b| *b == b'#' || *b == b';') {
        if let Ok(id) = std::str::from_utf8(part)
            && !id.is_empty()
            && !ids.contains(&id)
        {
            ids.push(id);
        }
    }
    ids
}

/// Parses an `AUTH_REQ` payload `liveId#liveCode`; `None` if there is no
/// `#`, either half is empty, or it is not UTF-8.
#[must_use]
pub fn parse_auth(payload: &[u8]) -> Option<(&str, &str)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (id, code) = text.split_once('#')?;
    (!id.is_empty() && !code.is_empty()).then_some((id, code))
}

/// The `AUTH_REQ` payload for a credential.
#[must_use]
pub fn encode_auth(live_id: &str, live_code: &str) -> Vec<u8> {
    format!("{live_id}#{live_code}").into_bytes()
}

/// Joins ids with a separator (`#` for pull and stop lists, `;` for acks).
pub fn join_ids<S: AsRef<str>>(ids: &[S], separator: char) -> String {
    let mut out = String::new();
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(separator);
        }
        out.push_str(id.as_ref());
    }
    out
}

/// One chunk of a `PULL_REQ`: its sequence number, marker and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullChunk<'a> {
    /// Chunk index, sent as the sequence number.
    pub index: u16,
    /// Set on the last chunk.
    pub last: bool,
    /// At most [`PULL_REQ_CHUNK`] bytes of the `#`-joined list.
    pub payload: &'a [u8],
}

/// Splits a `#`-joined id list into `PULL_REQ` chunks of at most 738 bytes
/// (possibly inside an id or character). When the length is a multiple of
/// 738, including zero, the last chunk is empty (1.4.2).
#[must_use]
pub fn chunk_pull_request(list: &[u8]) -> Vec<PullChunk<'_>> {
    let mut chunks: Vec<PullChunk<'_>> = list
        .chunks(PULL_REQ_CHUNK)
        .enumerate()
        .map(|(i, payload)| PullChunk { index: i as u16, last: false, payload })
        .collect();
    if list.len().is_multiple_of(PULL_REQ_CHUNK) {
        chunks.push(PullChunk { index: chunks.len() as u16, last: false, payload: &[] });
    }
    if let Some(last) = chunks.last_mut() {
        last.last = true;
    }
    chunks
}

/// Writes an SSRC as legacy clients parse it: a signed 32-bit decimal.
#[must_use]
pub fn signed_ssrc(ssrc: u32) -> i32 {
    ssrc as i32
}

/// Encodes `PULL_RSP` payloads: `id#ssrc;id#ssrc`, at most 20 entries per
/// payload, `null` for streams that are not live, `#null` for an empty list.
pub fn encode_pull_rsp<S: AsRef<str>>(entries: &[(S, Option<u32>)]) -> Vec<Vec<u8>> {
    if entries.is_empty() {
        return vec![b"#null".to_vec()];
    }
    entries
        .chunks(PULL_RSP_MAX_IDS)
        .map(|batch| {
            let mut text = String::new();
            for (i, (id, ssrc)) in batch.iter().enumerate() {
                if i > 0 {
                    text.push(';');
                }
                text.push_str(id.as_ref());
                text.push('#');
                match ssrc {
                    Some(ssrc) => write!(text, "{}", signed_ssrc(*ssrc)).expect("writing to a String"),
                    None => text.push_str("null"),
                }
            }
            text.into_bytes()
        })
        .collect()
}

/// Parses a `PULL_RSP` payload into `(id, ssrc)` entries. An SSRC is read
/// as signed or unsigned 32-bit decimal; `null` or anything unparsable is
/// `None`. Entries with an empty id (the `#null` answer) are skipped.
#[must_use]
pub fn parse_pull_rsp(payload: &[u8]) -> Vec<(String, Option<u32>)> {
    let text = String::from_utf8_lossy(payload);
    text.split(';')
        .filter_map(|entry| {
            let (id, ssrc) = entry.rsplit_once('#')?;
            if id.is_empty() {
                return None;
            }
            let ssrc = ssrc.parse::<i64>().ok().filter(|v| (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(v));
            Some((id.to_owned(), ssrc.map(|v| v as u32)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lists_ignore_empty_entries_and_count_duplicates_once() {
        assert_eq!(split_ids(b"a##b;a;;c#").unwrap(), ["a", "b", "c"]);
        assert_eq!(split_ids(b"").unwrap(), Vec::<&str>::new());
        assert!(split_ids(&[0xff, b'#']).is_err());
    }

    #[test]
    fn auth_needs_both_halves() {
        assert_eq!(parse_auth(b"live1#code"), Some(("live1", "code")));
        assert_eq!(parse_auth(b"live1"), None);
        assert_eq!(parse_auth(b"#code"), None);
        assert_eq!(parse_auth(b"live1#"), None);
    }

    #[test]
    fn pull_rsp_ssrc_is_signed_and_empty_request_is_hash_null() {
        let p = encode_pull_rsp(&[("a", Some(0xFFFF_FF00)), ("b", None), ("c", Some(7))]);
        assert_eq!(p, [b"a#-256;b#null;c#7".to_vec()]);
        assert_eq!(encode_pull_rsp::<&str>(&[]), [b"#null".to_vec()]);
    }

    #[test]
    fn pull_rsp_holds_at_most_twenty_ids() {
        let ids: Vec<(String, Option<u32>)> = (0..41).map(|i| (format!("s{i}"), None)).collect();
        let p = encode_pull_rsp(&ids);
        assert_eq!(p.len(), 3);
        assert_eq!(parse_pull_rsp(&p[0]).len(), 20);
        assert_eq!(parse_pull_rsp(&p[2]), [("s40".to_owned(), None)]);
    }

    #[test]
    fn chunks_are_738_bytes_and_a_multiple_ends_with_an_empty_chunk() {
        let empty = chunk_pull_request(b"");
        assert_eq!(empty, [PullChunk { index: 0, last: true, payload: b"" }]);
        let exact = vec![b'a'; 738];
        let c = chunk_pull_request(&exact);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].payload.len(), c[0].last, c[1].payload.len(), c[1].last), (738, false, 0, true));
        let long = vec![b'a'; 800];
        let c = chunk_pull_request(&long);
        assert_eq!((c.len(), c[1].index, c[1].payload.len(), c[1].last), (2, 1, 62, true));
    }

    proptest! {
        #[test]
        fn chunks_concatenate_to_the_list(list in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let chunks = chunk_pull_request(&list);
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.payload.iter().copied()).collect();
            prop_assert_eq!(&joined, &list);
            prop_assert!(chunks.iter().all(|c| c.payload.len() <= PULL_REQ_CHUNK));
            prop_assert_eq!(chunks.iter().filter(|c| c.last).count(), 1);
            prop_assert!(chunks.last().unwrap().last);
        }

        #[test]
        fn pull_rsp_round_trips(entries in proptest::collection::vec(("[A-Za-z0-9._-]{1,40}", proptest::option::of(any::<u32>())), 1..50)) {
            let payloads = encode_pull_rsp(&entries);
            let parsed: Vec<_> = payloads.iter().flat_map(|p| parse_pull_rsp(p)).collect();
            prop_assert_eq!(parsed, entries);
        }

        #[test]
        fn text_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = split_ids(&data);
            let _ = split_ids_lossy(&data);
            let _ = parse_auth(&data);
            let _ = parse_pull_rsp(&data);
        }
    }
}
