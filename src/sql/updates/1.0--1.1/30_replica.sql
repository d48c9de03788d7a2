
/*
 * Physical replicas (README "Backups and upgrades"): osv.data_export()
 * works on a hot standby and in any read-only transaction, where the row
 * lock of osv.check_user_exists() is refused.
 */
CREATE OR REPLACE FUNCTION osv.check_user_exists(user_id bigint, for_erasure boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF user_id IS NULL THEN
		RAISE EXCEPTION 'user_id must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF for_erasure THEN
		PERFORM FROM osv.users u WHERE u.id = user_id FOR UPDATE;
	ELSIF current_setting('transaction_read_only')::boolean THEN
		PERFORM FROM osv.users u WHERE u.id = user_id;
	ELSE
		PERFORM FROM osv.users u WHERE u.id = user_id FOR KEY SHARE;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % does not exist', user_id USING ERRCODE = 'no_data_found';
	END IF;
END
$$;
COMMENT ON FUNCTION osv.check_user_exists(bigint, boolean) IS 'raise an error unless the user exists, trashed or not; lock the user row';
