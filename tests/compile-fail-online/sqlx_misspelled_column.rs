// A misspelled column in a checked query: at compile time `query!` asks PostgreSQL to
// describe the statement, and the build stops with the server's own message.

async fn emails(connection: &mut sqlx::PgConnection) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query!("SELECT id, emial FROM users ORDER BY id")
        .fetch_all(connection)
        .await?;
    Ok(rows.into_iter().map(|row| row.emial).collect())
}

fn main() {
    let _ = emails;
}
