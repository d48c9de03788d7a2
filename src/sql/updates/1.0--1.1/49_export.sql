
/* ------------------------------------------------------------------------
 * osv.data_export in C (src/export_json.c): the same jsonb, written
 * straight into jsonb's binary format (bench/erasure.sh, sql/export.sql)
 * ------------------------------------------------------------------------
 */
CREATE OR REPLACE FUNCTION osv.data_export(user_id bigint)
RETURNS jsonb
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'osv_data_export';
COMMENT ON FUNCTION osv.data_export(bigint) IS 'everything held about a user, trashed rows included (GDPR art. 15 and 20)';
