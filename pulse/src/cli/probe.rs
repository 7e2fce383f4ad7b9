//! `pulse probe <url>`: the health check of a container. The runtime image
//! has no shell and no curl, so the binary asks its own service: exit status
//! 0 when the URL answers 2xx within the timeout, 1 otherwise, with the reason
//! on stderr. Plain `http://` on an address only (the probe runs beside the
//! service); one request, read up to the status line.

use anyhow::{Context as _, bail};
use clap::Args;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// `pulse probe`.
#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    /// What to ask, e.g. `http://127.0.0.1:3001/ready`.
    pub url: String,
    /// Milliseconds before it counts as not answering.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

/// Asks once; `Ok` only for a 2xx status.
pub async fn probe(args: &ProbeArgs) -> anyhow::Result<()> {
    let (authority, path) = split(&args.url)?;
    let status = tokio::time::timeout(Duration::from_millis(args.timeout_ms), status_of(authority, path))
        .await
        .with_context(|| format!("{} did not answer within {} ms", args.url, args.timeout_ms))??;
    if !(200..300).contains(&status) {
        bail!("{} answered {status}", args.url);
    }
    Ok(())
}

/// `http://host:port/path` into `host:port` and `/path`.
fn split(url: &str) -> anyhow::Result<(&str, &str)> {
    let rest = url.strip_prefix("http://").with_context(|| format!("{url:?}: only http:// URLs are probed"))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |slash| rest.split_at(slash));
    if authority.is_empty() || authority.contains(['@', ' ']) || path.contains([' ', '\r', '\n']) {
        bail!("{url:?} is not a plain http://host:port/path URL");
    }
    Ok((authority, path))
}

async fn status_of(authority: &str, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(authority).await.with_context(|| format!("connecting to {authority}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.context("sending the request")?;
    // At most one short line: a peer that is not HTTP must not keep the probe reading.
    let mut line = String::new();
    BufReader::new(stream.take(512)).read_line(&mut line).await.context("reading the status line")?;
    // "HTTP/1.1 200 OK"
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("{authority} answered {line:?}, not an HTTP status line"))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn a_url_splits_into_authority_and_path() {
        assert_eq!(split("http://127.0.0.1:3001/ready").ok(), Some(("127.0.0.1:3001", "/ready")));
        assert_eq!(split("http://localhost:3002").ok(), Some(("localhost:3002", "/")));
    }

    #[test]
    fn anything_but_plain_http_is_refused() {
        assert!(split("https://127.0.0.1/ready").is_err());
        assert!(split("http://user@127.0.0.1/").is_err());
        assert!(split("http://127.0.0.1/a b").is_err());
        assert!(split("http:///ready").is_err());
    }
}
