//! `pulse token <user>`: a bearer token for local development, carrying the
//! NextAuth claims given and nothing else. Refused outside dev mode.

use anyhow::{Context as _, bail};
use auth::JwtConfig;
use auth::{Claims, JwtKeys};
use clap::Args;
use events::ids::UserId;
use std::time::{SystemTime, UNIX_EPOCH};

/// `pulse token`.
#[derive(Args, Debug, Clone)]
pub struct TokenArgs {
    /// The user id (the token's `sub`).
    pub user: String,
    /// The `email` claim.
    #[arg(long)]
    pub email: Option<String>,
    /// The `name` claim.
    #[arg(long)]
    pub name: Option<String>,
    /// Adds `"role": "moderator"`.
    #[arg(long)]
    pub moderator: bool,
    /// Hours until it expires.
    #[arg(long, default_value_t = 24)]
    pub ttl_hours: u64,
}

/// Mints the token; only in dev mode.
pub fn mint(args: &TokenArgs, jwt: &JwtConfig, dev: bool) -> anyhow::Result<String> {
    if !dev {
        bail!("pulse token only works in dev mode (PULSE_DEV=1); production tokens come from NextAuth");
    }
    UserId::parse(&args.user).with_context(|| format!("user id {:?}", args.user))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).context("clock before 1970")?.as_secs();
    let claims = Claims {
        sub: args.user.clone(),
        name: args.name.clone(),
        email: args.email.clone(),
        picture: None,
        role: args.moderator.then(|| "moderator".to_owned()),
        iat: now,
        exp: now + args.ttl_hours * 3600,
        nbf: None,
        iss: jwt.issuer.clone(),
        aud: jwt.audience.clone().map(auth::Audience::One),
    };
    Ok(JwtKeys::new(jwt).mint(&claims)?)
}
