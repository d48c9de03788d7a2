/* osv--1.0--1.1.sql: update of osv 1.0 to 1.1 (concatenated from src/sql/updates/1.0--1.1) */

\echo Use "ALTER EXTENSION osv UPDATE TO '1.1'" to load this file. \quit

/*
 * Every change of the schema made since 1.0 appears twice: in the domain
 * files of src/sql (the fresh install of 1.1) and here (the update of a
 * 1.0 database that holds data).  test/t/040_upgrade.pl checks that both
 * give the same catalog and that the update keeps every row.  Columns a
 * change adds go at the end of their table in src/sql too, where the update
 * puts them.
 */
