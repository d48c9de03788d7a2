
/* src/sql/gamification.sql: the gamification domain (badges, awards, points) */

CREATE TABLE osv.badges (
	id bigint GENERATED ALWAYS AS IDENTITY,
	slug text NOT NULL,
	name text NOT NULL,
	description text,
	criteria jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT badges_pkey PRIMARY KEY (id),
	CONSTRAINT badges_slug_key UNIQUE (slug),
	CONSTRAINT badges_slug_check CHECK (slug OPERATOR(pg_catalog.~) '^[a-z0-9]+(-[a-z0-9]+)*$'),
	CONSTRAINT badges_name_check CHECK (pg_catalog.btrim(name) OPERATOR(pg_catalog.<>) ''),
	CONSTRAINT badges_criteria_check CHECK (pg_catalog.jsonb_typeof(criteria) OPERATOR(pg_catalog.=) 'object')
);
COMMENT ON TABLE osv.badges IS 'badges users can earn, with the criteria that award them';
COMMENT ON COLUMN osv.badges.id IS 'surrogate key';
COMMENT ON COLUMN osv.badges.slug IS 'stable identifier used by apps, such as first-quiz';
COMMENT ON COLUMN osv.badges.name IS 'name shown to users';
COMMENT ON COLUMN osv.badges.description IS 'what the badge is for';
COMMENT ON COLUMN osv.badges.criteria IS 'declarative criteria, a JSON object';
COMMENT ON COLUMN osv.badges.created_at IS 'when the row was created';
COMMENT ON COLUMN osv.badges.updated_at IS 'when the row last changed';

CREATE TRIGGER touch_updated_at BEFORE UPDATE ON osv.badges
	FOR EACH ROW EXECUTE FUNCTION osv.touch_updated_at();

CREATE TABLE osv.awards (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	badge_id bigint NOT NULL,
	awarded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT awards_pkey PRIMARY KEY (id),
	CONSTRAINT awards_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT awards_badge_id_fkey FOREIGN KEY (badge_id) REFERENCES osv.badges (id) ON DELETE CASCADE,
	CONSTRAINT awards_user_id_badge_id_key UNIQUE (user_id, badge_id)
);
COMMENT ON TABLE osv.awards IS 'badges awarded to users (users belong to many badges through awards)';
COMMENT ON COLUMN osv.awards.id IS 'surrogate key';
COMMENT ON COLUMN osv.awards.user_id IS 'user awarded (osv.users)';
COMMENT ON COLUMN osv.awards.badge_id IS 'badge awarded (osv.badges)';
COMMENT ON COLUMN osv.awards.awarded_at IS 'when the badge was awarded';

CREATE INDEX awards_badge_id_idx ON osv.awards (badge_id);

CREATE TABLE osv.points (
	id bigint GENERATED ALWAYS AS IDENTITY,
	user_id bigint NOT NULL,
	amount integer NOT NULL,
	reason text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT points_pkey PRIMARY KEY (id),
	CONSTRAINT points_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE,
	CONSTRAINT points_amount_check CHECK (amount OPERATOR(pg_catalog.<>) 0),
	CONSTRAINT points_reason_check CHECK (pg_catalog.btrim(reason) OPERATOR(pg_catalog.<>) '')
);
COMMENT ON TABLE osv.points IS 'append-only ledger of points won (or taken back) by users';
COMMENT ON COLUMN osv.points.id IS 'surrogate key';
COMMENT ON COLUMN osv.points.user_id IS 'user credited (osv.users)';
COMMENT ON COLUMN osv.points.amount IS 'points won, negative for a correction';
COMMENT ON COLUMN osv.points.reason IS 'why the points were given, such as quiz:42';
COMMENT ON COLUMN osv.points.created_at IS 'when the entry was written';

CREATE INDEX points_user_id_created_at_idx ON osv.points (user_id, created_at);
