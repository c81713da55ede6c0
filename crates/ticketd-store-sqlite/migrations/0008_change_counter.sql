-- Commits that changed data which already existed (anything but inserting new tickets), kept in
-- the database so that a reader sees it in the same snapshot as the data: a list count taken at
-- one value grows afterwards only by new tickets while the value stays (see `ListMark`).
CREATE TABLE change_counter (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    changes INTEGER NOT NULL
);
INSERT INTO change_counter (id, changes) VALUES (1, 0);
