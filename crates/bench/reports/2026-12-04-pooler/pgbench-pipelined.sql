\set id1 random(1, :rows)
\set id2 random(1, :rows)
\set id3 random(1, :rows)
\set id4 random(1, :rows)
\set id5 random(1, :rows)
\set id6 random(1, :rows)
\set id7 random(1, :rows)
\set id8 random(1, :rows)
\set id9 random(1, :rows)
\set id10 random(1, :rows)
\set id11 random(1, :rows)
\set id12 random(1, :rows)
\set id13 random(1, :rows)
\set id14 random(1, :rows)
\set id15 random(1, :rows)
\set id16 random(1, :rows)
\startpipeline
SELECT id, name, email, created_at FROM users WHERE id = :id1;
SELECT id, name, email, created_at FROM users WHERE id = :id2;
SELECT id, name, email, created_at FROM users WHERE id = :id3;
SELECT id, name, email, created_at FROM users WHERE id = :id4;
SELECT id, name, email, created_at FROM users WHERE id = :id5;
SELECT id, name, email, created_at FROM users WHERE id = :id6;
SELECT id, name, email, created_at FROM users WHERE id = :id7;
SELECT id, name, email, created_at FROM users WHERE id = :id8;
SELECT id, name, email, created_at FROM users WHERE id = :id9;
SELECT id, name, email, created_at FROM users WHERE id = :id10;
SELECT id, name, email, created_at FROM users WHERE id = :id11;
SELECT id, name, email, created_at FROM users WHERE id = :id12;
SELECT id, name, email, created_at FROM users WHERE id = :id13;
SELECT id, name, email, created_at FROM users WHERE id = :id14;
SELECT id, name, email, created_at FROM users WHERE id = :id15;
SELECT id, name, email, created_at FROM users WHERE id = :id16;
\endpipeline
