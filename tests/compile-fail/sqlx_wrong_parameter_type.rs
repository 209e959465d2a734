// A parameter of the wrong Rust type: `id` is `bigint`, so `$1` must be an `i64`;
// a string does not compile (the raw tier finds this out only when the query runs).

async fn by_id(connection: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT name FROM users WHERE id = $1", "1")
        .fetch_optional(connection)
        .await?;
    Ok(())
}

fn main() {
    let _ = by_id;
}
