-- 0003: Transfers and holds (issue 5).
SELECT 1;
