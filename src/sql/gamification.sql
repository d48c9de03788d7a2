
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

/* ------------------------------------------------------------------------
 * Badge criteria
 *
 * badges.criteria is a JSON object of conditions, all of which must hold:
 *   points_at_least          the user's point total
 *   quizzes_passed_at_least  live quizzes the user passed (osv.answers.passed)
 *   documents_at_least       live documents the user owns
 *   rooms_joined_at_least    live rooms the user ever joined
 * each a non-negative integer.  Other keys are refused.  {} is awarded on
 * the first fact of any kind.  Badges are evaluated for a user whenever one
 * of their facts changes (points awarded, a quiz passed, a document
 * registered, a room joined), by triggers on those tables, and awarded once
 * (awards_user_id_badge_id_key).  Awards stay when the facts later change.
 * ------------------------------------------------------------------------
 */
CREATE FUNCTION osv.badges_check_criteria()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k text;
	v jsonb;
BEGIN
	IF jsonb_typeof(NEW.criteria) IS DISTINCT FROM 'object' THEN
		RETURN NEW;		/* left to badges_criteria_check */
	END IF;
	FOR k, v IN SELECT e.key, e.value FROM jsonb_each(NEW.criteria) e ORDER BY e.key LOOP
		IF k NOT IN ('points_at_least', 'quizzes_passed_at_least', 'documents_at_least', 'rooms_joined_at_least') THEN
			RAISE EXCEPTION 'unrecognized criterion "%" of badge "%"', k, NEW.slug
				USING ERRCODE = 'check_violation', TABLE = 'badges', COLUMN = 'criteria',
					  HINT = 'Criteria are points_at_least, quizzes_passed_at_least, documents_at_least and rooms_joined_at_least.';
		END IF;
		IF jsonb_typeof(v) <> 'number' OR v::numeric < 0 OR v::numeric <> trunc(v::numeric) OR v::numeric > 9223372036854775807 THEN
			RAISE EXCEPTION 'criterion "%" of badge "%" must be a non-negative integer', k, NEW.slug
				USING ERRCODE = 'check_violation', TABLE = 'badges', COLUMN = 'criteria';
		END IF;
	END LOOP;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION osv.badges_check_criteria() IS 'trigger: refuse badge criteria with unrecognized keys or values that are not non-negative integers';

CREATE TRIGGER check_criteria BEFORE INSERT OR UPDATE OF criteria ON osv.badges
	FOR EACH ROW EXECUTE FUNCTION osv.badges_check_criteria();

/* ------------------------------------------------------------------------
 * Point totals
 *
 * osv.points is an append-only ledger: UPDATE is refused, and DELETE is
 * refused unless it is the foreign key cascade of deleting the user (a
 * hard delete or GDPR erasure); the trigger tells them apart by whether
 * the user row still exists.  TRUNCATE is left to administrators.
 * osv.point_totals holds each user's sum, kept by a row trigger on the
 * ledger with INSERT ... ON CONFLICT DO UPDATE, which locks the user's
 * total row: concurrent awards to one user queue there and stay exact.
 * ------------------------------------------------------------------------
 */
CREATE TABLE osv.point_totals (
	user_id bigint NOT NULL,
	points bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CONSTRAINT point_totals_pkey PRIMARY KEY (user_id),
	CONSTRAINT point_totals_user_id_fkey FOREIGN KEY (user_id) REFERENCES osv.users (id) ON DELETE CASCADE
);
COMMENT ON TABLE osv.point_totals IS 'each user''s point total, the sum of their ledger entries in osv.points, kept by trigger';
COMMENT ON COLUMN osv.point_totals.user_id IS 'user (osv.users)';
COMMENT ON COLUMN osv.point_totals.points IS 'sum of the user''s entries in osv.points';
COMMENT ON COLUMN osv.point_totals.updated_at IS 'when the total last changed';

CREATE INDEX point_totals_points_idx ON osv.point_totals (points DESC, user_id);

CREATE FUNCTION osv.points_append_only()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		/* Once per statement: the cascade of deleting a user is one statement. */
		IF EXISTS (SELECT FROM old_rows o JOIN osv.users u ON u.id = o.user_id) THEN
			RAISE EXCEPTION 'cannot delete from the points ledger'
				USING ERRCODE = 'prohibited_sql_statement_attempted',
					  DETAIL = 'osv.points is append-only; entries go away only with their user.',
					  HINT = 'Award negative points with osv.award_points() to correct a total.';
		END IF;
		RETURN NULL;
	END IF;
	RAISE EXCEPTION 'cannot update the points ledger'
		USING ERRCODE = 'prohibited_sql_statement_attempted',
			  DETAIL = 'osv.points is append-only.',
			  HINT = 'Award negative points with osv.award_points() to correct a total.';
END
$$;
COMMENT ON FUNCTION osv.points_append_only() IS 'trigger: refuse updates of the points ledger and deletes other than the cascade of deleting a user';

CREATE TRIGGER append_only BEFORE UPDATE ON osv.points
	FOR EACH ROW EXECUTE FUNCTION osv.points_append_only();
CREATE TRIGGER append_only_delete AFTER DELETE ON osv.points
	REFERENCING OLD TABLE AS old_rows
	FOR EACH STATEMENT EXECUTE FUNCTION osv.points_append_only();

/*
 * Award the badges whose criteria the user now meets.  Only badges naming
 * the fact that changed (or no fact at all) are considered; NULL means all.
 * Returns the number of badges awarded.
 */
CREATE FUNCTION osv.evaluate_badges(user_id bigint, fact text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	awarded integer;
BEGIN
	WITH candidates AS (
		SELECT b.id, b.criteria FROM osv.badges b
		WHERE (fact IS NULL OR b.criteria ? fact OR b.criteria = '{}')
		  AND NOT EXISTS (SELECT FROM osv.awards a WHERE a.user_id = evaluate_badges.user_id AND a.badge_id = b.id)
	), ins AS (
		INSERT INTO osv.awards (user_id, badge_id)
		SELECT evaluate_badges.user_id, c.id FROM candidates c
		WHERE (NOT c.criteria ? 'points_at_least'
			   OR (c.criteria->>'points_at_least')::numeric <=
				  coalesce((SELECT t.points FROM osv.point_totals t WHERE t.user_id = evaluate_badges.user_id), 0))
		  AND (NOT c.criteria ? 'quizzes_passed_at_least'
			   OR (c.criteria->>'quizzes_passed_at_least')::numeric <=
				  (SELECT count(DISTINCT a.quiz_id) FROM osv.answers a
				   WHERE a.user_id = evaluate_badges.user_id AND a.passed AND a.deleted_at IS NULL))
		  AND (NOT c.criteria ? 'documents_at_least'
			   OR (c.criteria->>'documents_at_least')::numeric <=
				  (SELECT count(*) FROM osv.documents d
				   WHERE d.user_id = evaluate_badges.user_id AND d.deleted_at IS NULL))
		  AND (NOT c.criteria ? 'rooms_joined_at_least'
			   OR (c.criteria->>'rooms_joined_at_least')::numeric <=
				  (SELECT count(DISTINCT p.room_id) FROM osv.room_participations p
				   WHERE p.user_id = evaluate_badges.user_id AND p.deleted_at IS NULL))
		ON CONFLICT (user_id, badge_id) DO NOTHING
		RETURNING 1
	)
	SELECT count(*) INTO awarded FROM ins;
	RETURN awarded;
END
$$;
COMMENT ON FUNCTION osv.evaluate_badges(bigint, text) IS 'award a user the badges whose criteria they now meet (only those naming fact, when given); returns how many';

CREATE FUNCTION osv.points_after_insert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO osv.point_totals AS t (user_id, points) VALUES (NEW.user_id, NEW.amount)
	ON CONFLICT (user_id) DO UPDATE SET points = t.points + EXCLUDED.points, updated_at = now();
	IF NEW.amount > 0 THEN
		PERFORM osv.evaluate_badges(NEW.user_id, 'points_at_least');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.points_after_insert() IS 'trigger: add a ledger entry to the user''s total and award the badges it earns';

CREATE TRIGGER add_to_total AFTER INSERT ON osv.points
	FOR EACH ROW WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.points_after_insert();

/* Facts behind the other criteria: evaluate the badges naming them. */
CREATE FUNCTION osv.evaluate_badges_trigger()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM osv.evaluate_badges(NEW.user_id, TG_ARGV[0]);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION osv.evaluate_badges_trigger() IS 'trigger: evaluate the badges naming the criterion given as argument for the row''s user';

/*
 * The same for inserts of documents and room participations, once per
 * statement and user (a bulk upload evaluates its owner's badges once, not
 * once per row), and not at all while no badge names the criterion: those
 * inserts are hot paths, so the trigger is in C (src/badges.c) with a
 * per-backend cache of the criteria in use, which osv.badges_changed()
 * drops in every backend when osv.badges changes.
 */
CREATE FUNCTION osv.evaluate_badges_after_insert()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_evaluate_badges_after_insert';
COMMENT ON FUNCTION osv.evaluate_badges_after_insert() IS 'trigger: evaluate, once per statement and user, the badges naming the criterion given as argument';

CREATE FUNCTION osv.badges_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'osv_badges_changed';
COMMENT ON FUNCTION osv.badges_changed() IS 'trigger: make every backend read again which criteria badges name';

CREATE TRIGGER badges_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON osv.badges
	FOR EACH STATEMENT EXECUTE FUNCTION osv.badges_changed();
/* Also under session_replication_role = replica (logical replication, restores). */
ALTER TABLE osv.badges ENABLE ALWAYS TRIGGER badges_changed;

CREATE TRIGGER evaluate_badges AFTER INSERT ON osv.documents
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.evaluate_badges_after_insert('documents_at_least');
CREATE TRIGGER evaluate_badges AFTER INSERT OR UPDATE OF passed ON osv.answers
	FOR EACH ROW WHEN (NEW.passed AND NEW.deleted_at IS NULL AND NOT osv.restoring()) EXECUTE FUNCTION osv.evaluate_badges_trigger('quizzes_passed_at_least');
CREATE TRIGGER evaluate_badges AFTER INSERT ON osv.room_participations
	REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT WHEN (NOT osv.restoring()) EXECUTE FUNCTION osv.evaluate_badges_after_insert('rooms_joined_at_least');

/*
 * osv.award_points(user_id, amount, reason): write a ledger entry and
 * return its id; the trigger add_to_total updates the total and awards the
 * badges it earns.  Negative amounts correct a total.  The user must be
 * live.
 */
CREATE FUNCTION osv.award_points(user_id bigint, amount integer, reason text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	entry_id bigint;
BEGIN
	IF user_id IS NULL OR amount IS NULL OR reason IS NULL THEN
		RAISE EXCEPTION 'user_id, amount and reason must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF amount = 0 THEN
		RAISE EXCEPTION 'amount of points must not be zero' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF btrim(reason) = '' THEN
		RAISE EXCEPTION 'reason for points must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM osv.require_live_user(award_points.user_id);
	INSERT INTO osv.points (user_id, amount, reason)
	VALUES (award_points.user_id, award_points.amount, btrim(award_points.reason))
	RETURNING id INTO entry_id;
	RETURN entry_id;
END
$$;
COMMENT ON FUNCTION osv.award_points(bigint, integer, text) IS 'add points to a user''s ledger, update the total, award the badges earned; returns the ledger entry id';

/*
 * osv.leaderboard(k): the k live users with the most points, best first;
 * users with equal points share a rank (rank(), so ranks may skip) and are
 * listed by id.  Reads point_totals_points_idx in order and stops after k
 * live users.
 */
CREATE FUNCTION osv.leaderboard(k integer DEFAULT 10)
RETURNS TABLE (rank bigint, user_id bigint, name text, points bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF k IS NULL OR k < 1 OR k > 1000 THEN
		RAISE EXCEPTION 'k must be between 1 and 1000' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN QUERY
	SELECT pg_catalog.rank() OVER (ORDER BY top.points DESC), top.user_id, top.name, top.points
	FROM (SELECT t.user_id, u.name, t.points
		  FROM osv.point_totals t JOIN osv.users u ON u.id = t.user_id
		  WHERE u.deleted_at IS NULL
		  ORDER BY t.points DESC, t.user_id
		  LIMIT k) top
	ORDER BY top.points DESC, top.user_id;
END
$$;
COMMENT ON FUNCTION osv.leaderboard(integer) IS 'top k live users by point total, with rank';
