-- The one schema of the workspace. Every tier applies this file at start-up:
-- tier-sqlx through sqlx::migrate!, tier-raw and tier-orm by running it in a
-- transaction. It must therefore be idempotent (IF NOT EXISTS everywhere).

-- Two servers starting at once would race on CREATE TABLE IF NOT EXISTS (the check
-- and the create are not atomic). A transaction-scoped advisory lock makes them take
-- turns; it is released at COMMIT. The key is an arbitrary constant of this project.
SELECT pg_advisory_xact_lock(7321440900);

CREATE TABLE IF NOT EXISTS users (
    -- Assigned by the database, never by the client: GENERATED ALWAYS refuses an
    -- explicit id.
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    email      text        NOT NULL,
    -- timestamptz keeps microseconds, which is what the API shows.
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The API validates these first; the database holds the line for any other writer.
    CONSTRAINT users_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT users_email_length CHECK (char_length(email) BETWEEN 3 AND 254)
);

-- Emails are unique regardless of letter case: "Ada@Example.com" and
-- "ada@example.com" are the same address. An expression index on lower(email)
-- enforces it (citext would too, but needs an extension and superuser rights).
-- A violation is SQLSTATE 23505, which each tier maps to 409 Conflict.
CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower_key ON users (lower(email));
