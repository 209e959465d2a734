//! The tier rows of a run: which tier ([`TierKind`]), under which label
//! ([`TierLabel`]), with which extra environment ([`TierSpec`]), including the
//! `--variant` rows that add environment to a tier ([`Variant`]).
//!
//! A row's label is what the report prints and, with the workload, the key every
//! result is filed under: two rows never share a label (`Options::plan` refuses a
//! variant given twice), so a label names one row.
//!
//! `--pooler` adds two rows per tier ([`TierKind::pooler_rows`]): the tier with
//! `DB_PREPARED_STATEMENTS=false` straight to PostgreSQL, and the same behind a
//! PgBouncer ([`Route::PgBouncer`]). Three rows, two differences: named against unnamed
//! statements, then direct against pooled, each measured on its own.

use clap::ValueEnum;
use serde::Serialize;

/// Which server to run. `RawPipelined` is the tier-raw binary with `DB_PIPELINE=true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum TierKind {
    /// tier-raw: tokio-postgres + deadpool-postgres.
    #[value(alias = "tier-raw")]
    Raw,
    /// tier-sqlx: sqlx.
    #[value(alias = "tier-sqlx")]
    Sqlx,
    /// tier-orm: SeaORM.
    #[value(alias = "tier-orm")]
    Orm,
    /// tier-raw with `DB_PIPELINE=true` (reads share a few pipelined clients).
    #[value(alias = "tier-raw-pipelined")]
    RawPipelined,
}

/// The name of one tier row of the report (`tier-raw`, `tier-raw (pipelined)`,
/// `tier-raw + TOKIO_WORKER_THREADS=1`): unique within a run, so results are keyed by
/// it rather than by the row's position. Serialized as the plain string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TierLabel(String);

impl TierLabel {
    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for TierLabel {
    fn from(label: &str) -> Self {
        Self(label.to_owned())
    }
}

impl From<String> for TierLabel {
    fn from(label: String) -> Self {
        Self(label)
    }
}

impl std::fmt::Display for TierLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

impl PartialEq<str> for TierLabel {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TierLabel {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// How one tier row of the report is run: which binary, with which extra environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSpec {
    /// Which tier.
    pub kind: TierKind,
    /// The row's name in the report.
    pub label: TierLabel,
    /// The Cargo package, which is also the binary's name.
    pub package: &'static str,
    /// Environment that makes this variant (on top of the bench's own).
    pub env: Vec<(String, String)>,
    /// How it reaches PostgreSQL.
    pub route: Route,
}

/// How a tier row reaches PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// Straight to the server.
    Direct,
    /// Through a PgBouncer in transaction mode that the bench starts for it
    /// (`crate::pooler`).
    PgBouncer,
}

/// The environment that turns named (prepared) statements off, as API.md asks of a
/// tier behind PgBouncer 1.18 in transaction mode.
pub const UNNAMED: (&str, &str) = ("DB_PREPARED_STATEMENTS", "false");

impl TierKind {
    /// Everything needed to run it.
    pub fn spec(self) -> TierSpec {
        let (label, package, env): (_, _, &'static [(&str, &str)]) = match self {
            Self::Raw => ("tier-raw", "tier-raw", &[]),
            Self::Sqlx => ("tier-sqlx", "tier-sqlx", &[]),
            Self::Orm => ("tier-orm", "tier-orm", &[]),
            Self::RawPipelined => (
                "tier-raw (pipelined)",
                "tier-raw",
                &[("DB_PIPELINE", "true")],
            ),
        };
        TierSpec {
            kind: self,
            label: label.into(),
            package,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            route: Route::Direct,
        }
    }

    /// The three rows `--pooler` measures of this tier, in the order they run: as it
    /// is (named statements, direct), with unnamed statements (direct), and with
    /// unnamed statements through PgBouncer. The first and second differ only in the
    /// statements, the second and third only in the route.
    pub fn pooler_rows(self) -> [TierSpec; 3] {
        let named = self.spec();
        let mut unnamed = self.spec();
        unnamed.label = format!("{} unnamed", named.label).into();
        unnamed
            .env
            .push((UNNAMED.0.to_owned(), UNNAMED.1.to_owned()));
        let mut pooled = unnamed.clone();
        pooled.label = format!("{} via PgBouncer", named.label).into();
        pooled.route = Route::PgBouncer;
        [named, unnamed, pooled]
    }
}

/// `--variant TIER:KEY=VALUE,...`: a tier run with extra environment, as a row of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The tier it starts from.
    pub tier: TierKind,
    /// Set on top of the tier's own environment.
    pub env: Vec<(String, String)>,
}

impl Variant {
    /// The row: the tier's own, with the extra environment added and named in the label
    /// (`tier-raw + TOKIO_WORKER_THREADS=1`).
    pub fn spec(&self) -> TierSpec {
        let mut spec = self.tier.spec();
        let named: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        spec.label = format!("{} + {}", spec.label, named.join(" ")).into();
        spec.env.extend(self.env.iter().cloned());
        spec
    }
}

/// `KEY=VALUE` for `--env`.
pub(super) fn parse_env_pair(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {raw:?}")),
    }
}

/// `TIER:KEY=VALUE[,KEY=VALUE...]` for `--variant`.
pub(super) fn parse_variant(raw: &str) -> Result<Variant, String> {
    let usage = || format!("expected TIER:KEY=VALUE[,KEY=VALUE...], got {raw:?}");
    let (tier, pairs) = raw.split_once(':').ok_or_else(usage)?;
    let tier = TierKind::from_str(tier, true).map_err(|_| format!("unknown tier {tier:?}"))?;
    let env = pairs
        .split(',')
        .map(parse_env_pair)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Variant { tier, env })
}
