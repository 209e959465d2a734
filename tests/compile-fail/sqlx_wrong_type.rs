// A wrong Rust type: `name` is `text`, so the record `query!` generates has a `String`
// field, and treating it as a number does not compile.

async fn name_length(connection: &mut sqlx::PgConnection) -> Result<i32, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT id, name, email, created_at FROM users WHERE id = $1",
        1_i64
    )
    .fetch_one(connection)
    .await?;
    let name: i32 = row.name;
    Ok(name)
}

fn main() {
    let _ = name_length;
}
