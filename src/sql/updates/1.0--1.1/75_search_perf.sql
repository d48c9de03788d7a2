
/*
 * 1.0 -> 1.1: the embedded search reads a topic's summaries through an
 * index (src/sql/search.sql, src/exact_scan.c).
 */
CREATE INDEX summaries_topic_idx ON osv.summaries (topic);
