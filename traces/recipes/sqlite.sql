.mode csv
.import lines.csv lines
.mode list
CREATE INDEX lines_text ON lines(text);
CREATE INDEX lines_file ON lines(file, lineno);
SELECT count(*), count(DISTINCT file), count(DISTINCT text) FROM lines;
SELECT file, count(*) AS n, sum(length(text)) FROM lines GROUP BY file ORDER BY n DESC LIMIT 3;
SELECT count(*) FROM lines a JOIN lines b ON a.text = b.text AND a.file <> b.file WHERE a.lineno % 64 = 0 AND length(a.text) > 30;
UPDATE lines SET text = upper(text) WHERE lineno % 7 = 0;
SELECT count(*) FROM lines WHERE text LIKE '%def %';
WITH RECURSIVE q(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM q WHERE i < 200000)
SELECT count(*) FROM q JOIN lines ON lines.rowid = (abs(random()) % 150000) * (abs(random()) % 2) + 1;
DELETE FROM lines WHERE lineno % 5 = 0;
SELECT count(*), sum(length(text)) FROM lines;
