/* ------------------------------------------------------------------------
 * The outbox's fillfactor from 50 to 35, so that a claim of every row of a
 * page stays a HOT update (src/sql/vector.sql says why); new pages only:
 * rows already stored stay where they are until they are deleted.
 * ------------------------------------------------------------------------
 */
ALTER TABLE osv.vector_outbox SET (fillfactor = 35);
