-- Posts: a user has many, every post has one author. Like 0001, every tier applies this
-- file at start-up, so it is idempotent (IF NOT EXISTS everywhere) and takes the same
-- advisory lock, so that servers starting at once take turns.
SELECT pg_advisory_xact_lock(7321440900);

CREATE TABLE IF NOT EXISTS posts (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The foreign key decides whether the author exists, at the moment of the insert:
    -- no "read the user, then insert" race. Deleting a user deletes their posts.
    user_id    bigint      NOT NULL,
    title      text        NOT NULL,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id)
        REFERENCES users (id) ON DELETE CASCADE,
    -- The API validates these first; the database holds the line for any other writer.
    CONSTRAINT posts_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT posts_body_length CHECK (char_length(body) <= 4000)
);

-- "This user's posts by id": the keyset page of GET /users/{id}/posts is a range scan
-- of this index, and the cascade on user delete finds the posts through it too.
CREATE INDEX IF NOT EXISTS posts_user_id_id_idx ON posts (user_id, id);
