// A LEFT JOIN's author read as if it were always there. `users.name` is `NOT NULL`, but
// on the right of a LEFT JOIN it is NULL for a post without a matching user. At compile
// time sqlx asks PostgreSQL for the query's plan (EXPLAIN) too, sees the outer join, and
// reads `author_name` as an `Option<String>`, which `query_as!` cannot turn into the
// `String` field (no `From<Option<String>>`): fix the field, not the query. (The raw
// tier's `try_get::<_, String>` compiles, and fails on the first row with no author.)

struct PostAuthorRow {
    id: i64,
    author_name: String,
}

async fn posts_with_authors(
    connection: &mut sqlx::PgConnection,
) -> Result<Vec<PostAuthorRow>, sqlx::Error> {
    sqlx::query_as!(
        PostAuthorRow,
        "SELECT p.id, u.name AS author_name FROM posts p LEFT JOIN users u ON u.id = p.user_id"
    )
    .fetch_all(connection)
    .await
}

fn main() {
    let _ = posts_with_authors;
}
