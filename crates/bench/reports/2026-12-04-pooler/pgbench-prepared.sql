\set id random(1, :rows)
SELECT id, name, email, created_at FROM users WHERE id = :id;
