//! The input of `rtprelay push`: a file or standard input, refused unless
//! it starts as MPEG-TS (a `0x47` sync byte every 188 bytes), so that an
//! MP4 pushed as is fails at once instead of reaching players as garbage.

use super::Failure;
use rtprelay_core::mpegts::PACKET_LEN;
use std::path::Path;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The MPEG-TS sync byte.
const SYNC: u8 = 0x47;
/// Packets looked at before the push starts.
const CHECKED_PACKETS: usize = 4;

/// The push's input, its first bytes already read and checked.
pub struct Input {
    /// `standard input` or the file's path.
    name: String,
    /// A regular file (read as fast as the disk allows).
    regular: bool,
    head: Vec<u8>,
    /// How much of `head` was handed out.
    taken: usize,
    rest: Box<dyn AsyncRead + Unpin + Send>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").field("head", &self.head.len()).finish_non_exhaustive()
    }
}

impl Input {
    /// Opens `path` (`-`: standard input) and checks that it is MPEG-TS.
    /// A missing file is bad usage (exit 2); input that is not MPEG-TS, or
    /// empty, is refused (exit 1).
    pub async fn open(path: &str) -> Result<Input, Failure> {
        let mut regular = false;
        let (name, mut rest): (String, Box<dyn AsyncRead + Unpin + Send>) = if path == "-" {
            ("standard input".to_owned(), Box::new(tokio::io::stdin()))
        } else {
            let p = Path::new(path);
            let file = std::fs::File::open(p).map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?;
            regular = file.metadata().is_ok_and(|m| m.is_file());
            (p.display().to_string(), Box::new(tokio::fs::File::from_std(file)))
        };
        let mut head = vec![0u8; PACKET_LEN * CHECKED_PACKETS];
        let mut filled = 0;
        while filled < head.len() {
            match rest.read(&mut head[filled..]).await? {
                0 => break,
                n => filled += n,
            }
        }
        head.truncate(filled);
        check(&name, &head)?;
        Ok(Input { name, regular, head, taken: 0, rest })
    }

    /// The warning for a file pushed without `--realtime`, if it is one.
    pub fn unpaced_warning(&self, realtime: bool) -> Option<String> {
        (self.regular && !realtime)
            .then(|| format!("{} is pushed as fast as it can be read; add --realtime to pace it by its PCR", self.name))
    }

    /// Reads the next bytes into `buf`; 0 at the end. Cancel-safe.
    pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.taken < self.head.len() {
            let n = buf.len().min(self.head.len() - self.taken);
            buf[..n].copy_from_slice(&self.head[self.taken..self.taken + n]);
            self.taken += n;
            return Ok(n);
        }
        self.rest.read(buf).await
    }
}

/// Refuses a start that is not MPEG-TS, naming what it looks like.
fn check(name: &str, head: &[u8]) -> Result<(), Failure> {
    if head.is_empty() {
        return Err(Failure::runtime(format!("{name} is empty: nothing to push")));
    }
    if (0..head.len()).step_by(PACKET_LEN).all(|at| head[at] == SYNC) {
        return Ok(());
    }
    let looks_like = if head.get(4..8) == Some(b"ftyp") {
        " (it looks like MP4)"
    } else if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        " (it looks like Matroska/WebM)"
    } else if head.starts_with(b"FLV") {
        " (it looks like FLV)"
    } else if head.get(4) == Some(&SYNC) && head.get(4 + 192) == Some(&SYNC) {
        " (it looks like M2TS, 192-byte packets)"
    } else {
        ""
    };
    Err(Failure::runtime(format!(
        "{name} is not MPEG-TS: no 0x47 sync byte every 188 bytes{looks_like}; convert it first, \
         e.g. `ffmpeg -i IN -c copy -f mpegts - | rtprelay push ... -`"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpeg_ts_passes_and_the_rest_is_named() {
        let ts: Vec<u8> = (0..3).flat_map(|_| std::iter::once(SYNC).chain([0u8; 187])).collect();
        assert!(check("in.ts", &ts).is_ok());
        assert!(check("in.ts", &ts[..100]).is_ok(), "a short input is judged by its first byte");
        let mut bad = ts.clone();
        bad[188] = 0;
        assert!(check("in.ts", &bad).is_err(), "every packet start is checked");
        let mp4 = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec();
        let e = check("in.mp4", &mp4).unwrap_err();
        assert_eq!(e.code, crate::exit::FAILURE);
        assert!(e.message.starts_with("in.mp4 is not MPEG-TS") && e.message.contains("MP4"), "{}", e.message);
        assert!(check("-", &[]).unwrap_err().message.contains("empty"));
    }
}
