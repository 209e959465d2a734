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
//!
//! `--fastapi` adds the course's FastAPI originals (`baseline/fastapi/`) as rows of
//! their own ([`Stack`], [`Server::FastApi`]), each next to the tier it is ported to:
//! a row says what to run ([`Server`]), a Cargo binary or a FastAPI stack, and which
//! workloads it serves ([`TierSpec::serves`]): the stacks serve `get` and the lists.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::workload::Workload;

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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

/// How one tier row of the report is run: which server, with which extra environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSpec {
    /// Which tier; for a FastAPI row, the tier it is measured against.
    pub kind: TierKind,
    /// The row's name in the report.
    pub label: TierLabel,
    /// What runs: a tier's release binary, or a FastAPI stack.
    pub server: Server,
    /// Environment that makes this variant (on top of the bench's own).
    pub env: Vec<(String, String)>,
    /// How it reaches PostgreSQL.
    pub route: Route,
}

/// What a row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The release binary of this Cargo package (the binary has the package's name).
    Cargo(&'static str),
    /// One of the course's FastAPI stacks, started with `baseline/fastapi/run.sh`.
    FastApi(Stack),
}

/// The course's three FastAPI stacks (`baseline/fastapi/`), each the original of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stack {
    /// asyncpg with SQL by hand: the original of tier-raw.
    Asyncpg,
    /// The `databases` package: the original of tier-sqlx.
    Databases,
    /// SQLAlchemy 2's async ORM: the original of tier-orm.
    Sqlalchemy,
}

impl Stack {
    /// All three, in the order of the tiers they pair with.
    pub const ALL: [Stack; 3] = [Self::Asyncpg, Self::Databases, Self::Sqlalchemy];

    /// The name `run.sh` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Asyncpg => "asyncpg",
            Self::Databases => "databases",
            Self::Sqlalchemy => "sqlalchemy",
        }
    }

    /// The tier ported from it.
    pub fn tier(self) -> TierKind {
        match self {
            Self::Asyncpg => TierKind::Raw,
            Self::Databases => TierKind::Sqlx,
            Self::Sqlalchemy => TierKind::Orm,
        }
    }

    /// Its row: `fastapi-asyncpg`, paired with its tier.
    pub fn spec(self) -> TierSpec {
        TierSpec {
            kind: self.tier(),
            label: format!("fastapi-{}", self.name()).into(),
            server: Server::FastApi(self),
            env: Vec::new(),
            route: Route::Direct,
        }
    }
}

impl TierSpec {
    /// The Cargo package to build, `None` for a FastAPI stack.
    pub fn package(&self) -> Option<&'static str> {
        match self.server {
            Server::Cargo(package) => Some(package),
            Server::FastApi(_) => None,
        }
    }

    /// The FastAPI stack it runs, if it is one.
    pub fn stack(&self) -> Option<Stack> {
        match self.server {
            Server::FastApi(stack) => Some(stack),
            Server::Cargo(_) => None,
        }
    }

    /// Whether this row serves `workload`: a tier serves all of them, a FastAPI stack
    /// only `GET /users/{id}` and the keyset pages of `GET /users`.
    pub fn serves(&self, workload: Workload) -> bool {
        match self.server {
            Server::Cargo(_) => true,
            Server::FastApi(_) => matches!(
                workload,
                Workload::Get | Workload::List | Workload::ListFirst | Workload::ListLast
            ),
        }
    }
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
            server: Server::Cargo(package),
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
