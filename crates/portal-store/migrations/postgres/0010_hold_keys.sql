-- A name held while a submission is hashed carries the submission's idempotency key (with
-- its sender), so that the same submission sent again takes its own hold over instead of
-- finding its names taken.
ALTER TABLE reserved_names ADD COLUMN hold_key TEXT NULL;
