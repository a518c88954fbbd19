//! The request-response codec: one canonical-codec message per stream,
//! read with a byte limit (never more than `limit + 1` bytes are buffered).

use std::io;
use std::marker::PhantomData;

use borsh::{BorshDeserialize, BorshSerialize};
use futures::prelude::*;
use libp2p::StreamProtocol;
use libp2p::request_response;

/// Reads one message of at most `limit` bytes from a stream and decodes it canonically.
pub(crate) async fn read_limited<T, R>(io: &mut R, limit: usize) -> io::Result<T>
where
    T: BorshDeserialize + BorshSerialize,
    R: AsyncRead + Unpin + Send,
{
    let mut buf = Vec::new();
    io.take(limit as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message exceeds {limit} bytes"),
        ));
    }
    cairn_types::codec::decode(&buf, limit)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

async fn write_limited<T, W>(io: &mut W, value: &T, limit: usize) -> io::Result<()>
where
    T: BorshSerialize,
    W: AsyncWrite + Unpin + Send,
{
    let bytes = cairn_types::codec::encode(value);
    if bytes.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message of {} bytes exceeds {limit}", bytes.len()),
        ));
    }
    io.write_all(&bytes).await?;
    io.close().await
}

/// A request-response codec for one request and one response type.
#[derive(Debug)]
pub(crate) struct WireCodec<Req, Resp> {
    max_request: usize,
    max_response: usize,
    _types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> WireCodec<Req, Resp> {
    pub(crate) fn new(max_request: usize, max_response: usize) -> Self {
        WireCodec {
            max_request,
            max_response,
            _types: PhantomData,
        }
    }
}

impl<Req, Resp> Clone for WireCodec<Req, Resp> {
    fn clone(&self) -> Self {
        WireCodec::new(self.max_request, self.max_response)
    }
}

impl<Req, Resp> request_response::Codec for WireCodec<Req, Resp>
where
    Req: BorshSerialize + BorshDeserialize + Send + Sync + 'static,
    Resp: BorshSerialize + BorshDeserialize + Send + Sync + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io, self.max_response).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_limited(io, &req, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_limited(io, &res, self.max_response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{CatchUpRequest, SyncRequest};
    use futures::io::Cursor;

    #[test]
    fn oversized_and_trailing_requests_are_refused() {
        futures::executor::block_on(async {
            let ok = cairn_types::codec::encode(&SyncRequest::Blocks { from: 1, to: 5 });
            let got: SyncRequest = read_limited(&mut Cursor::new(ok.clone()), 64)
                .await
                .unwrap();
            assert_eq!(got, SyncRequest::Blocks { from: 1, to: 5 });
            // Larger than the limit: refused without decoding.
            let big = vec![0u8; 65];
            let e = read_limited::<SyncRequest, _>(&mut Cursor::new(big), 64)
                .await
                .unwrap_err();
            assert!(e.to_string().contains("exceeds 64"), "{e}");
            // Trailing bytes.
            let mut t = ok;
            t.push(0);
            assert!(
                read_limited::<SyncRequest, _>(&mut Cursor::new(t), 64)
                    .await
                    .is_err()
            );
            // Wrong enum tag.
            assert!(
                read_limited::<CatchUpRequest, _>(&mut Cursor::new(vec![9u8]), 64)
                    .await
                    .is_err()
            );
        });
    }
}
