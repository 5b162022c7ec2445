//! Response compression negotiated from `Accept-Encoding`: brotli or gzip (flate2, brotli) for
//! JSON, CSV and other text bodies of at least [`MIN_SIZE`] bytes, with `Vary: Accept-Encoding`.
//! Never for tiny bodies (the frame costs more than it saves) nor for SSE: a live event is a few
//! hundred bytes that must leave at once, so each would be flushed alone and barely shrink, while
//! every open stream would hold a compressor's window (~256 KiB for deflate) — 2,000 streams,
//! half a gigabyte.
//!
//! A body served again and again (a cached read) is compressed once: [`pack`] stores it with its
//! gzip and brotli forms, the handler answers the packed bytes marked [`Packed`], and
//! [`compress_responses`] slices out the form the client accepts — a hit costs no compression.

use std::io::Write as _;

use actix_http::encoding::Encoder;
use actix_web::HttpResponse;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentEncoding, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;

/// Bodies smaller than this are sent as they are.
pub const MIN_SIZE: usize = 1024;
/// gzip level, per request and when packing. Packing is paid by every cache miss: on a 31 KB page
/// (release build) level 4 takes 0.25 ms for 3.4 KB, level 6 0.45 ms for 3.3 KB.
const GZIP_LEVEL: u32 = 4;
/// brotli quality, likewise: quality 4 takes 0.44 ms for 2.3 KB, quality 5 0.73 ms for 2.0 KB.
const BROTLI_QUALITY: u32 = 4;
/// brotli window (2^20 bytes): larger than any page we serve.
const BROTLI_WINDOW: u32 = 20;
/// The first bytes of a packed body (never the start of JSON or CSV).
const MAGIC: &[u8; 4] = b"TPZ1";
/// `MAGIC`, then the identity and gzip lengths (u32, little-endian), then the three forms.
const PACKED_HEADER: usize = MAGIC.len() + 8;

/// A content coding we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As is.
    Identity,
    /// `gzip`.
    Gzip,
    /// `br`.
    Brotli,
}

impl Encoding {
    /// The compressed forms a [`pack`] needs for a client accepting this coding (none for
    /// identity).
    pub fn forms(self) -> &'static [Encoding] {
        match self {
            Encoding::Identity => &[],
            Encoding::Gzip => &[Encoding::Gzip],
            Encoding::Brotli => &[Encoding::Brotli],
        }
    }

    /// The level (gzip) or quality (brotli) we compress at.
    fn level(self) -> u32 {
        match self {
            Encoding::Brotli => BROTLI_QUALITY,
            _ => GZIP_LEVEL,
        }
    }

    fn content_encoding(self) -> ContentEncoding {
        match self {
            Encoding::Identity => ContentEncoding::Identity,
            Encoding::Gzip => ContentEncoding::Gzip,
            Encoding::Brotli => ContentEncoding::Brotli,
        }
    }
}

/// The coding to answer with, from an `Accept-Encoding` value (RFC 9110 §12.5.3): the higher `q`
/// of `br` and `gzip` (a tie: br), unless `identity` is named with a higher one; `q=0` refuses a
/// coding, `*` stands for the codings not named. No header, or both refused: identity.
pub fn negotiate(accept: Option<&str>) -> Encoding {
    let Some(accept) = accept else {
        return Encoding::Identity;
    };
    let (mut br, mut gzip, mut identity, mut star) = (None, None, None, None);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| v.trim())
            })
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        match coding.as_str() {
            "br" => br = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "identity" => identity = Some(q),
            "*" => star = Some(q),
            _ => {}
        }
    }
    let br = br.or(star).unwrap_or(0.0);
    let gzip = gzip.or(star).unwrap_or(0.0);
    let best = br.max(gzip);
    // Identity is always acceptable; it wins only when named with a higher q.
    if best <= 0.0 || identity.is_some_and(|q| q > best) {
        Encoding::Identity
    } else if br == best {
        Encoding::Brotli
    } else {
        Encoding::Gzip
    }
}

/// `body` in `encoding` at `level` (gzip 1-9, brotli 0-11).
fn encode(encoding: Encoding, body: &[u8], level: u32) -> Vec<u8> {
    // Writing to a Vec cannot fail.
    match encoding {
        Encoding::Identity => body.to_vec(),
        Encoding::Gzip => {
            let mut out = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4 + 64),
                flate2::Compression::new(level),
            );
            let _ = out.write_all(body);
            out.finish().unwrap_or_default()
        }
        Encoding::Brotli => {
            let mut out = Vec::with_capacity(body.len() / 4 + 64);
            {
                let mut w =
                    brotli::CompressorWriter::new(&mut out, 16 * 1024, level, BROTLI_WINDOW);
                let _ = w.write_all(body);
            }
            out
        }
    }
}

/// Both compressed forms: what a cached entry read again and again should hold.
pub const ALL_FORMS: &[Encoding] = &[Encoding::Gzip, Encoding::Brotli];

/// `body` with the compressed `forms` asked for, to store and serve marked [`Packed`]; a body
/// under [`MIN_SIZE`], or with no form asked for, is kept as it is. A form left out is made per
/// response by [`compress_responses`] until the entry is packed again with it.
pub fn pack(body: Vec<u8>, forms: &[Encoding]) -> Vec<u8> {
    let wants = |e| forms.contains(&e);
    if body.len() < MIN_SIZE
        || body.len() > u32::MAX as usize
        || !(wants(Encoding::Gzip) || wants(Encoding::Brotli))
    {
        return body;
    }
    let form = |e: Encoding| match wants(e) {
        true => encode(e, &body, e.level()),
        false => Vec::new(),
    };
    let (gzip, br) = (form(Encoding::Gzip), form(Encoding::Brotli));
    let mut out = Vec::with_capacity(PACKED_HEADER + body.len() + gzip.len() + br.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&(gzip.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&gzip);
    out.extend_from_slice(&br);
    out
}

/// Whether a stored body answers `encoding` without compressing: it holds that form, or it
/// is one that is never compressed (a small body, identity asked for).
pub fn holds_form(stored: &[u8], encoding: Encoding) -> bool {
    if encoding == Encoding::Identity || stored.len() < MIN_SIZE {
        return true;
    }
    forms_at(stored).is_some_and(|(_, gzip_at, br_at)| match encoding {
        Encoding::Gzip => br_at > gzip_at,
        _ => stored.len() > br_at,
    })
}

/// Where the identity, gzip and brotli forms of a packed body start.
fn forms_at(packed: &[u8]) -> Option<(usize, usize, usize)> {
    let rest = packed.strip_prefix(MAGIC.as_slice())?;
    let len = |at: usize| {
        rest.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(|b| u32::from_le_bytes(b) as usize)
    };
    let gzip_at = PACKED_HEADER + len(0)?;
    let br_at = gzip_at + len(4)?;
    (br_at <= packed.len()).then_some((PACKED_HEADER, gzip_at, br_at))
}

/// The form of a [`pack`]ed body in `encoding`, without copying; a body that is not packed (a
/// small one, an entry stored before packing existed), or packed without that form, answers with
/// its identity form.
pub fn unpack(packed: &Bytes, encoding: Encoding) -> (Bytes, Encoding) {
    let Some((identity_at, gzip_at, br_at)) = forms_at(packed) else {
        return (packed.clone(), Encoding::Identity);
    };
    match encoding {
        Encoding::Gzip if br_at > gzip_at => (packed.slice(gzip_at..br_at), Encoding::Gzip),
        Encoding::Brotli if packed.len() > br_at => (packed.slice(br_at..), Encoding::Brotli),
        _ => (packed.slice(identity_at..gzip_at), Encoding::Identity),
    }
}

/// The coding a request accepts, negotiated from its `Accept-Encoding`: a handler that stores
/// packed bodies packs the form its caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted(pub Encoding);

impl actix_web::FromRequest for Accepted {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(Accepted(accepted(req.headers()))))
    }
}

fn accepted(headers: &HeaderMap) -> Encoding {
    negotiate(
        headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Marks a response whose body is [`pack`]ed (in its extensions): [`compress_responses`] sends
/// the form the client accepts.
#[derive(Debug, Clone, Copy)]
pub struct Packed;

/// Marks `res`, whose body was made by [`pack`], as [`Packed`].
pub fn mark_packed(res: &mut HttpResponse) {
    res.extensions_mut().insert(Packed);
}

fn compressible(headers: &HeaderMap) -> bool {
    let Some(kind) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let kind = kind.split(';').next().unwrap_or("").trim();
    kind != "text/event-stream"
        && (kind.starts_with("text/")
            || kind == "application/json"
            || kind.ends_with("+json")
            || kind == "application/javascript")
}

/// Middleware: serves the negotiated form of [`Packed`] bodies, compresses other compressible
/// bodies of at least [`MIN_SIZE`] bytes (streamed ones, such as CSV exports, as they stream),
/// and says `Vary: Accept-Encoding` wherever the coding could differ.
pub async fn compress_responses(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let wanted = accepted(req.headers());
    let res = next.call(req).await?.map_into_boxed_body();
    let packed = res.response().extensions().get::<Packed>().is_some();
    let status = res.status();
    let skip = res.headers().contains_key(header::CONTENT_ENCODING)
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational();
    if skip || !(packed || compressible(res.headers())) {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (mut res, body) = res.into_parts();
    let body = match body.try_into_bytes() {
        Ok(bytes) => {
            let (bytes, encoding) = match packed {
                true => unpack(&bytes, wanted),
                false => (bytes, Encoding::Identity),
            };
            let (bytes, encoding) = if encoding != wanted && bytes.len() >= MIN_SIZE {
                (Bytes::from(encode(wanted, &bytes, wanted.level())), wanted)
            } else {
                (bytes, encoding)
            };
            let headers = res.headers_mut();
            headers.remove(header::CONTENT_LENGTH);
            if encoding != Encoding::Identity {
                headers.insert(
                    header::CONTENT_ENCODING,
                    encoding.content_encoding().to_header_value(),
                );
            }
            vary(headers);
            BoxBody::new(bytes)
        }
        // A stream: actix-http's encoder compresses it as it goes (and says Vary itself).
        Err(stream) if wanted != Encoding::Identity => BoxBody::new(Encoder::response(
            wanted.content_encoding(),
            res.head_mut(),
            stream,
        )),
        Err(stream) => {
            vary(res.headers_mut());
            stream
        }
    };
    Ok(ServiceResponse::new(req, res.set_body(body)))
}

fn vary(headers: &mut HeaderMap) {
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_q_values() {
        use Encoding::*;
        let cases = [
            (None, Identity),
            (Some(""), Identity),
            (Some("gzip"), Gzip),
            (Some("br"), Brotli),
            (Some("gzip, deflate, br, zstd"), Brotli),
            (Some("gzip;q=1.0, br;q=0.5"), Gzip),
            (Some("br;q=0, gzip"), Gzip),
            (Some("gzip;q=0"), Identity),
            (Some("br;q=0, gzip;q=0"), Identity),
            (Some("identity"), Identity),
            (Some("identity;q=0, gzip;q=0.1"), Gzip),
            (Some("gzip;q=0.5, identity"), Identity),
            (Some("*"), Brotli),
            (Some("*;q=0, identity"), Identity),
            (Some("deflate"), Identity),
            (Some("GZIP ; Q=0.8"), Gzip),
            (Some("gzip;q=nonsense"), Gzip),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn packed_forms_round_trip() {
        use std::io::Read as _;
        let body = br#"{"data":[{"asset":"PETR4","price":"38.50"}]}"#.repeat(100);
        let packed = Bytes::from(pack(body.clone(), ALL_FORMS));
        assert!(
            packed.len() < body.len() * 2,
            "the compressed forms are small"
        );
        let (identity, e) = unpack(&packed, Encoding::Identity);
        assert_eq!(
            (identity.as_ref(), e),
            (body.as_slice(), Encoding::Identity)
        );
        let (gzip, e) = unpack(&packed, Encoding::Gzip);
        assert_eq!(e, Encoding::Gzip);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gzip.as_ref())
            .read_to_end(&mut out)
            .expect("gzip");
        assert_eq!(out, body);
        let (br, e) = unpack(&packed, Encoding::Brotli);
        assert_eq!(e, Encoding::Brotli);
        let mut out = Vec::new();
        brotli::Decompressor::new(br.as_ref(), 4096)
            .read_to_end(&mut out)
            .expect("br");
        assert_eq!(out, body);
        // Small and unpacked bodies are their own identity form.
        let small = Bytes::from(pack(b"{}".to_vec(), ALL_FORMS));
        assert_eq!(
            unpack(&small, Encoding::Gzip),
            (small.clone(), Encoding::Identity)
        );
        let truncated = packed.slice(..PACKED_HEADER + 10);
        assert_eq!(unpack(&truncated, Encoding::Gzip).1, Encoding::Identity);
    }

    #[test]
    fn a_pack_holds_only_the_forms_asked_for() {
        let body = br#"{"data":[{"asset":"PETR4","price":"38.50"}]}"#.repeat(100);
        let plain = pack(body.clone(), &[]);
        assert_eq!(plain, body, "no form asked for: the body as it is");
        assert!(holds_form(&plain, Encoding::Identity));
        assert!(!holds_form(&plain, Encoding::Gzip));
        let br = Bytes::from(pack(body.clone(), &[Encoding::Brotli]));
        assert!(holds_form(&br, Encoding::Brotli) && !holds_form(&br, Encoding::Gzip));
        assert_eq!(unpack(&br, Encoding::Brotli).1, Encoding::Brotli);
        let (identity, e) = unpack(&br, Encoding::Gzip);
        assert_eq!(
            (identity.as_ref(), e),
            (body.as_slice(), Encoding::Identity)
        );
        let gzip = Bytes::from(pack(body.clone(), &[Encoding::Gzip]));
        assert!(holds_form(&gzip, Encoding::Gzip) && !holds_form(&gzip, Encoding::Brotli));
        assert_eq!(unpack(&gzip, Encoding::Brotli).1, Encoding::Identity);
        let all = pack(body, ALL_FORMS);
        assert!(ALL_FORMS.iter().all(|&e| holds_form(&all, e)));
        assert!(
            holds_form(b"{}", Encoding::Brotli),
            "a small body is never compressed"
        );
    }
}
