//! Reading a snapshot file in chunks: one side reads and hashes (`feed`), the other decodes
//! from what has arrived (`Chunks`). At open the two run on two threads, so the file's read and
//! its two hashes overlap the decoding instead of coming before it, and the file is never held
//! whole in memory (a 50 MB buffer was ≈ 12k page faults of its own).
//!
//! The decoder works on bytes whose checksum is not yet known. That is safe because decoding
//! never panics and allocates only what the bytes present (or the log's length) allow; its
//! result is used only once the hashes have checked out.

use std::io::{self, Read};

/// Bytes per chunk read from a file.
pub(super) const CHUNK: usize = 1 << 20;

/// What `feed` found: the file checksum's verdict and the image's hash.
pub(super) struct Sums {
    /// The last 32 bytes are blake3 of everything before them.
    pub check_ok: bool,
    /// blake3 of the content from `image_at` on (`None`: the content is shorter).
    pub image: Option<blake3::Hash>,
}

/// Reads `len` bytes from `src` in chunks of at most `chunk`; hashes the content (all but the
/// last 32 bytes) for the checksum and, from `image_at` on, for the image hash; hands each
/// chunk of content to `sink` until it says stop (the decoder gave up), then still reads and
/// hashes the rest (in one buffer of its own), so that the checksum's verdict is known whatever
/// the decoder did. Buffers come from `spare` when it has one: fresh ones cost page faults, and
/// made on this thread they would stay in its malloc arena after the open.
pub(super) fn feed(
    src: &mut impl Read,
    len: usize,
    image_at: usize,
    chunk: usize,
    mut sink: impl FnMut(Vec<u8>) -> Result<(), Vec<u8>>,
    mut spare: impl FnMut() -> Option<Vec<u8>>,
) -> io::Result<Sums> {
    let content_len = len.saturating_sub(32);
    let (mut file, mut image) = (blake3::Hasher::new(), blake3::Hasher::new());
    let (mut at, mut own) = (0usize, None::<Vec<u8>>);
    while at < content_len {
        let n = chunk.max(1).min(content_len - at);
        let mut buf = match own.take() {
            Some(b) => b,
            None => spare().unwrap_or_default(),
        };
        // Whatever a reused buffer held is overwritten by the read.
        buf.resize(n, 0);
        src.read_exact(&mut buf)?;
        file.update(&buf);
        if let Some(part) = buf.get(image_at.saturating_sub(at)..) {
            image.update(part);
        }
        at += n;
        if let Err(back) = sink(buf) {
            own = Some(back);
        }
    }
    let mut check = [0u8; 32];
    let tail = len - content_len;
    src.read_exact(check.get_mut(..tail).unwrap_or_default())?;
    let check_ok = tail == 32 && file.finalize().as_bytes() == &check;
    Ok(Sums { check_ok, image: (content_len >= image_at).then(|| image.finalize()) })
}

/// The decoder's side: the bytes of the current chunk not yet consumed, and the chunks to come.
pub(super) struct Chunks<'a> {
    buf: Vec<u8>,
    pos: usize,
    /// Content bytes not yet arrived.
    unread: usize,
    source: &'a mut dyn Source,
}

/// Where the decoder's chunks come from, and where it gives back the ones it is done with.
pub(super) trait Source {
    fn next(&mut self) -> Option<Vec<u8>>;
    fn give_back(&mut self, _done: Vec<u8>) {}
}

/// Chunks read before decoding.
impl Source for std::vec::IntoIter<Vec<u8>> {
    fn next(&mut self) -> Option<Vec<u8>> {
        Iterator::next(self)
    }
}

/// Chunks from the reading thread, and buffers back to it.
pub(super) struct Channel {
    pub chunks: crossbeam_channel::Receiver<Vec<u8>>,
    pub spare: crossbeam_channel::Sender<Vec<u8>>,
}

impl Source for Channel {
    fn next(&mut self) -> Option<Vec<u8>> {
        self.chunks.recv().ok()
    }

    fn give_back(&mut self, done: Vec<u8>) {
        // A full return queue (or a reader that has finished) only means a fresh buffer.
        let _ = self.spare.try_send(done);
    }
}

impl<'a> Chunks<'a> {
    /// `total` is the content's length (the file's, less its checksum).
    pub fn new(total: usize, source: &'a mut dyn Source) -> Self {
        Chunks { buf: Vec::new(), pos: 0, unread: total, source }
    }

    /// The bytes at hand.
    pub fn avail(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Content bytes left in total: at hand and still to come.
    pub fn remaining(&self) -> usize {
        self.avail().len() + self.unread
    }

    pub fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
    }

    /// Joins the next chunk to the bytes at hand; false when none is left (or the reader
    /// stopped early).
    pub fn more(&mut self) -> bool {
        self.more_until(self.avail().len() + 1)
    }

    /// Joins chunks to the bytes at hand until at least `want` bytes are there or none is
    /// left; false when not one chunk came. Each chunk is given back as soon as it is copied,
    /// so the decoder never holds more than one of the reader's buffers while it waits.
    fn more_until(&mut self, want: usize) -> bool {
        let Some(first) = self.pull() else {
            return false;
        };
        let old = if self.avail().is_empty() {
            std::mem::replace(&mut self.buf, first)
        } else {
            let mut joined = Vec::with_capacity(self.avail().len() + first.len());
            joined.extend_from_slice(self.avail());
            joined.extend_from_slice(&first);
            self.source.give_back(first);
            std::mem::replace(&mut self.buf, joined)
        };
        self.source.give_back(old);
        self.pos = 0;
        while self.buf.len() < want {
            let Some(next) = self.pull() else {
                break;
            };
            self.buf.extend_from_slice(&next);
            self.source.give_back(next);
        }
        true
    }

    fn pull(&mut self) -> Option<Vec<u8>> {
        let next = self.source.next();
        self.unread = next.as_ref().map_or(0, |n| self.unread.saturating_sub(n.len()));
        next
    }

    /// Everything left, at hand in one piece.
    pub fn rest(&mut self) -> &[u8] {
        self.more_until(usize::MAX);
        self.avail()
    }

    /// Decodes one bincode item, joining chunks (at least doubling what is at hand each time,
    /// so the retries cost at most twice the item) until it fits.
    pub fn item<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, bincode::error::DecodeError> {
        loop {
            match bincode::serde::decode_from_slice::<T, _>(self.avail(), super::config()) {
                Ok((v, used)) => {
                    self.advance(used);
                    return Ok(v);
                }
                Err(bincode::error::DecodeError::UnexpectedEnd { additional }) => {
                    let have = self.avail().len();
                    if !self.more_until(have.saturating_add(additional.max(have).max(1))) {
                        return Err(bincode::error::DecodeError::UnexpectedEnd { additional });
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}
