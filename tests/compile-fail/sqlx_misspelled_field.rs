// A misspelled column when reading the result: `query!` generates the record type from
// the columns PostgreSQL says the query returns, so a field that is not one of them
// does not exist (tier-raw's `row.try_get("emial")` compiles, and fails at run time).

async fn emails(connection: &mut sqlx::PgConnection) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query!("SELECT id, email FROM users ORDER BY id")
        .fetch_all(connection)
        .await?;
    Ok(rows.into_iter().map(|row| row.emial).collect())
}

fn main() {
    let _ = emails;
}
