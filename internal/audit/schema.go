package audit

import "github.com/mlcycle/mlcycle/internal/store"

// Migrations returns the audit tables. audit_head holds the seq and hash of
// the last event and moves in the same transaction as each insert, so a
// deleted or truncated tail shows as a head that points past the last event.
// The triggers make the log append-only for everything but someone who
// drops them first; Verify catches what such a person changes.
func Migrations() []store.Migration {
	return []store.Migration{
		{ID: "audit/0001_events", SQL: `
CREATE TABLE audit_events (
	seq           BIGINT PRIMARY KEY,
	at            BIGINT NOT NULL,
	actor         TEXT NOT NULL,
	actor_id      BIGINT NOT NULL,
	action        TEXT NOT NULL,
	resource_type TEXT NOT NULL,
	resource_id   TEXT NOT NULL,
	outcome       TEXT NOT NULL,
	request_id    TEXT NOT NULL,
	client_addr   TEXT NOT NULL,
	detail        TEXT NOT NULL,
	prev_hash     TEXT NOT NULL,
	hash          TEXT NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
`},
		{ID: "audit/0002_append_only_sqlite", Only: store.SQLite, SQL: `
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END;
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN SELECT RAISE(ABORT, 'audit_head is append-only: DELETE refused'); END;
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
WHEN NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1
BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward one event at a time'); END;
`},
		{ID: "audit/0002_append_only_postgres", Only: store.Postgres, SQL: `
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$;
CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 THEN
		RAISE EXCEPTION 'audit_head only moves forward one event at a time';
	END IF;
	RETURN NEW;
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
	FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head
	FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
`},
	}
}
